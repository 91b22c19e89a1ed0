"""The public Solana Pay Transaction Request route: what it answers (label, icon, an unsigned
transaction the customer pays), every bad input answered with the spec's error and a message
(never a 500), CORS for browser wallets, and no Transaction Request without a public URL."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from spl.token.instructions import get_associated_token_address

from db.pool import create_pool
from simnet.server import SimnetServer
from tests.conftest import RECIPIENT, USDC_MINT, api_client, free_port, make_store

PUBLIC = "http://127.0.0.1:8080"


@pytest.fixture
async def shop(sim: SimnetServer, pool: asyncpg.Pool) -> AsyncIterator[TestClient]:
    async with api_client(pool, public_url=PUBLIC, solana_rpc_urls=[sim.rpc_url],
                          api_rate_limit_per_minute=10**6) as client:
        yield client


async def create(client: TestClient, headers: dict[str, str], **extra: str) -> dict:
    resp = await client.post("/v1/payments", headers=headers, json={
        "amount": "30", "currency": "USD", "asset": "SOL", **extra})
    assert resp.status == 201, await resp.text()
    return await resp.json()


def link(payment: dict) -> str:
    return f"/pay/{payment['id']}/transaction-request"


async def spec_error(resp: object, status: int) -> str:
    """The answer is the spec's error: the status, a JSON `message`, CORS."""
    assert resp.status == status, await resp.text()  # type: ignore[attr-defined]
    assert resp.headers["Access-Control-Allow-Origin"] == "*"  # type: ignore[attr-defined]
    body = await resp.json()  # type: ignore[attr-defined]
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["error"]["message"] == body["message"]
    return body["message"]


async def test_get_answers_label_and_an_icon_we_serve(shop: TestClient,
                                                      pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "iconshop")
    payment = await create(shop, headers)
    assert payment["payment_request"]["transaction_request_url"] == \
        f"solana:{PUBLIC}{link(payment)}"
    resp = await shop.get(link(payment))
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    body = await resp.json()
    assert body["label"] == "Iconshop"
    assert body["icon"].startswith(f"{PUBLIC}/checkout/static/icon.svg")
    icon = await shop.get(body["icon"].removeprefix(PUBLIC))
    assert icon.status == 200
    assert icon.content_type == "image/svg+xml"
    assert (await icon.read()).startswith(b"<svg")


async def test_post_answers_an_unsigned_transaction_the_account_pays(
        shop: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "postshop")
    payment = await create(shop, headers, memo="ORD 7")
    customer = Keypair().pubkey()
    resp = await shop.post(link(payment), json={"account": str(customer)})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    body = await resp.json()
    assert body["message"].startswith(f"Pay {payment['amount_due_display']} SOL to Postshop")
    tx = Transaction.from_bytes(base64.b64decode(body["transaction"]))
    message = tx.message
    assert message.account_keys[0] == customer          # the fee payer
    assert message.header.num_required_signatures == 1  # and the only signer
    assert not tx.is_signed()
    programs = [str(message.account_keys[ix.program_id_index]) for ix in message.instructions]
    assert programs == ["ComputeBudget111111111111111111111111111111"] * 2 + [
        "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr", "11111111111111111111111111111111"]
    assert bytes(message.instructions[2].data) == b"ORD 7"
    transfer = message.instructions[3]
    keys = [message.account_keys[i] for i in transfer.accounts]
    assert keys == [customer, Pubkey.from_string(RECIPIENT),
                    Pubkey.from_string(payment["payment_request"]["reference"])]
    reference_index = transfer.accounts[2]
    assert not message.is_signer(reference_index)
    readonly_from = len(message.account_keys) - message.header.num_readonly_unsigned_accounts
    assert reference_index >= readonly_from  # read-only
    assert int.from_bytes(bytes(transfer.data)[4:12], "little") == int(payment["amount_due"])
    row = await pool.fetchrow("SELECT payer FROM payments WHERE id = $1",
                              uuid.UUID(payment["id"]))
    assert row["payer"] == str(customer)
    # The latest request wins: the customer switched wallets.
    other = Keypair().pubkey()
    assert (await shop.post(link(payment), json={"account": str(other)})).status == 200
    assert await pool.fetchval("SELECT payer FROM payments WHERE id = $1",
                               uuid.UUID(payment["id"])) == str(other)


async def test_a_token_payment_creates_the_missing_merchant_account(
        shop: TestClient, pool: asyncpg.Pool) -> None:
    """USDC's mainnet mint is absent from simnet: its program is taken as Token, and the
    merchant's token account does not exist, so the transaction creates it first."""
    headers, _store = await make_store(pool, "usdcshop")
    payment = await create(shop, headers, asset="USDC")
    customer = Keypair().pubkey()
    body = await (await shop.post(link(payment), json={"account": str(customer)})).json()
    message = Transaction.from_bytes(base64.b64decode(body["transaction"])).message
    programs = [str(message.account_keys[ix.program_id_index]) for ix in message.instructions]
    assert programs[2:] == ["ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL",
                            "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"]
    transfer = message.instructions[3]
    keys = [message.account_keys[i] for i in transfer.accounts]
    mint = Pubkey.from_string(payment["mint"])
    assert keys[:4] == [get_associated_token_address(customer, mint), mint,
                        get_associated_token_address(Pubkey.from_string(RECIPIENT), mint),
                        customer]
    assert bytes(transfer.data)[9] == 6  # transferChecked with the mint's decimals


@pytest.mark.parametrize(("body", "why"), [
    (b"", "body must be JSON"), (b"not json", "body must be JSON"),
    (b"[1, 2]", "account"), (b"{}", "account"), (b'{"account": 7}', "account"),
    (b'{"account": "short"}', "32 to 44"),
    (b'{"account": "0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl"}', "not a valid base58"),
])
async def test_bad_bodies_answer_400_with_a_message(shop: TestClient, pool: asyncpg.Pool,
                                                    body: bytes, why: str) -> None:
    headers, _store = await make_store(pool, "badshop")
    payment = await create(shop, headers)
    resp = await shop.post(link(payment), data=body,
                           headers={"Content-Type": "application/json"})
    assert why in await spec_error(resp, 400)
    assert await pool.fetchval("SELECT payer FROM payments WHERE id = $1",
                               uuid.UUID(payment["id"])) is None


async def test_an_off_curve_account_cannot_sign_and_is_refused(shop: TestClient,
                                                               pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "pdashop")
    payment = await create(shop, headers)
    token_account = get_associated_token_address(Keypair().pubkey(),
                                                 Pubkey.from_string(USDC_MINT))
    assert not token_account.is_on_curve()
    resp = await shop.post(link(payment), json={"account": str(token_account)})
    assert "off the ed25519 curve" in await spec_error(resp, 400)


async def test_closed_and_unknown_payments_are_refused(shop: TestClient,
                                                       pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "closedshop")
    account = {"account": str(Keypair().pubkey())}
    expired, cancelled, paid = [await create(shop, headers) for _ in range(3)]
    await pool.execute("UPDATE payments SET created_at = now() - interval '1 hour', "
                       "expires_at = now() - interval '1 second' WHERE id = $1",
                       uuid.UUID(expired["id"]))
    assert (await shop.post(f"/v1/payments/{cancelled['id']}/cancel", headers=headers,
                            json={})).status == 200
    await pool.execute("UPDATE payments SET status = 'confirmed', confirmed_at = now(), "
                       "detected_at = now(), closed_at = now() WHERE id = $1",
                       uuid.UUID(paid["id"]))
    for payment, status, why in ((expired, 410, "expired"), (cancelled, 410, "cancelled"),
                                 (paid, 409, "already paid")):
        for method in ("GET", "POST"):
            resp = await shop.request(method, link(payment), json=account)
            assert why in await spec_error(resp, status)
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        resp = await shop.post(f"/pay/{unknown}/transaction-request", json=account)
        await spec_error(resp, 404)
    assert await pool.fetchval("SELECT count(*) FROM payments WHERE payer IS NOT NULL") == 0


async def test_an_underpaid_payment_asks_for_what_remains(shop: TestClient,
                                                          pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "restshop")
    payment = await create(shop, headers)
    due = int(payment["amount_due"])
    await pool.execute("UPDATE payments SET status = 'detected', exception = 'underpaid', "
                       "amount_received = $2, detected_at = now() WHERE id = $1",
                       uuid.UUID(payment["id"]), due // 3)
    body = await (await shop.post(link(payment),
                                  json={"account": str(Keypair().pubkey())})).json()
    transfer = Transaction.from_bytes(base64.b64decode(body["transaction"])).message \
        .instructions[-1]
    assert int.from_bytes(bytes(transfer.data)[4:12], "little") == due - due // 3


async def test_cors_preflight_and_other_methods(shop: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "corsshop")
    payment = await create(shop, headers)
    resp = await shop.options(link(payment), headers={
        "Origin": "https://wallet.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert set(resp.headers["Access-Control-Allow-Methods"].split(", ")) >= {"GET", "POST"}
    assert "content-type" in resp.headers["Access-Control-Allow-Headers"].lower()
    resp = await shop.put(link(payment), json={})
    await spec_error(resp, 405)
    assert "POST" in resp.headers["Allow"]


async def test_an_unavailable_chain_answers_503_with_retry_after(pool: asyncpg.Pool) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with api_client(pool, public_url=PUBLIC, solana_rpc_urls=[dead]) as client:
        headers, _store = await make_store(pool, "deadshop")
        payment = await create(client, headers)
        resp = await client.post(link(payment), json={"account": str(Keypair().pubkey())})
        message = await spec_error(resp, 503)
        assert dead not in message  # endpoints may carry API keys
        assert int(resp.headers["Retry-After"]) > 0
    assert await pool.fetchval("SELECT payer FROM payments WHERE id = $1",
                               uuid.UUID(payment["id"])) is None


async def test_without_a_public_url_nothing_is_offered(api: TestClient,
                                                       merchant: dict[str, str]) -> None:
    payment = await create(api, merchant)
    assert payment["payment_request"]["transaction_request_url"] is None
    for method in ("GET", "POST"):
        resp = await api.request(method, link(payment),
                                 json={"account": str(Keypair().pubkey())})
        assert "PAYWATCH_PUBLIC_URL" in await spec_error(resp, 404)
    page = await (await api.get(f"/pay/{payment['id']}")).text()
    assert "transaction-request" not in page
    assert (await api.get(f"/pay/{payment['id']}/transaction-request/qr.svg")).status == 404


async def test_the_checkout_page_offers_it_beside_the_transfer_request(
        shop: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "pageshop")
    payment = await create(shop, headers)
    resp = await shop.get(f"/pay/{payment['id']}")
    page = await resp.text()
    assert 'id="open-wallet"' in page
    assert f'href="solana:{PUBLIC}{link(payment)}"' in page
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
    qr = await shop.get(f"/pay/{payment['id']}/transaction-request/qr.svg")
    assert qr.status == 200
    assert qr.content_type == "image/svg+xml"


async def test_many_requests_from_one_address_are_limited(sim: SimnetServer,
                                                          pool: asyncpg.Pool) -> None:
    async with api_client(pool, public_url=PUBLIC, solana_rpc_urls=[sim.rpc_url],
                          api_rate_limit_per_minute=2) as client:
        headers, _store = await make_store(pool, "busyshop")
        payment = await create(client, headers)
        for _ in range(2):
            assert (await client.get(link(payment))).status == 200
        resp = await client.get(link(payment))
        assert "too many transaction requests" in await spec_error(resp, 429)
        assert int(resp.headers["Retry-After"]) > 0


async def test_an_unavailable_database_answers_the_spec_error_with_retry_after() -> None:
    """A wallet in a browser must be able to read why (CORS) and when to come back."""
    pool = await create_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/none", min_size=0)
    try:
        async with api_client(pool, public_url=PUBLIC) as client:
            for method in ("GET", "POST"):
                resp = await client.request(method, link({"id": str(uuid.uuid4())}),
                                            json={"account": str(Keypair().pubkey())})
                assert "retry" in await spec_error(resp, 503)
                assert int(resp.headers["Retry-After"]) > 0
    finally:
        await pool.close()
