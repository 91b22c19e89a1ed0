"""Payments API: create with a quote and a Solana Pay URL, read, list, cancel, settle, QR."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import asyncpg
from aiohttp.test_utils import TestClient

from paywatch.core.solanapay import parse_transfer_url
from tests.conftest import RECIPIENT, USDC_MINT, api_client, make_store


async def create(api: TestClient, headers: dict[str, str], **body: object) -> dict:
    payload = {"amount": "100.00", "currency": "USD", "asset": "SOL", **body}
    resp = await api.post("/v1/payments", json=payload, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_a_sol_payment_carries_a_solana_pay_url_and_an_explained_quote(
        api: TestClient, merchant: dict[str, str]) -> None:
    pay = await create(api, merchant, label="Café & Co", message="Order 42 – thanks!",
                       memo="ORD-42")
    assert pay["object"] == "payment"
    assert pay["status"] == "pending"
    assert pay["exception"] is None
    # 100 USD at the default static 150 USD/SOL, no fair value configured -> no discount:
    # 100 / 150 = 0.6666666666... SOL, rounded UP to 666666667 lamports.
    assert pay["amount_due"] == "666666667"
    assert pay["amount_due_display"] == "0.666666667"
    assert pay["fiat_amount"] == "100.00"
    assert pay["fiat_amount_due"] == "100.00"
    quote = pay["quote"]
    assert quote["price"] == "150"
    assert quote["price_source"] == "static"
    assert quote["cfv"]["discount_percent"] == "0"
    assert quote["cfv"]["reason"] == "no fair value for SOL in the static table: no CFV discount"

    request = pay["payment_request"]
    parsed = parse_transfer_url(request["url"])
    assert parsed.recipient == RECIPIENT
    assert parsed.amount == "0.666666667"
    assert parsed.spl_token is None
    assert parsed.references == [request["reference"]]
    assert parsed.label == "Café & Co"
    assert parsed.message == "Order 42 – thanks!"
    assert parsed.memo == "ORD-42"
    assert "label=Caf%C3%A9%20%26%20Co" in request["url"]
    assert "+" not in request["url"]


async def test_a_usdc_payment_uses_six_decimals_and_the_mint(
        api: TestClient, merchant: dict[str, str]) -> None:
    pay = await create(api, merchant, asset="usdc", amount="19.99")
    assert pay["asset"] == "USDC"
    assert pay["decimals"] == 6
    assert pay["amount_due"] == "19990000"
    parsed = parse_transfer_url(pay["payment_request"]["url"])
    assert parsed.spl_token == USDC_MINT
    assert parsed.amount == "19.99"


async def test_references_are_fresh_per_payment(api: TestClient,
                                                merchant: dict[str, str]) -> None:
    refs = {(await create(api, merchant))["payment_request"]["reference"] for _ in range(5)}
    assert len(refs) == 5


async def test_cfv_discount_applies_from_the_fair_value_table(
        pool: asyncpg.Pool) -> None:
    headers, _ = await make_store(pool, "cfv-shop")
    # SOL at 150 with a fair value of 250: (150 - 250) / 250 = -40 % -> undervalued,
    # tier >= 30 % -> 7 % off: 100.00 -> 93.00 USD -> 93 / 150 = 0.62 SOL exactly.
    async with api_client(pool, static_fair_values='{"SOL": "250"}') as api:
        pay = await create(api, headers)
    assert pay["fiat_amount_due"] == "93.00"
    assert pay["amount_due"] == "620000000"
    cfv = pay["quote"]["cfv"]
    assert cfv["fair_value"] == "250"
    assert cfv["valuation_percent"] == "-40.0000"
    assert cfv["valuation_status"] == "undervalued"
    assert cfv["discount_percent"] == "7"
    row = await pool.fetchrow("SELECT discount_percent, valuation_status, fair_value, price "
                              "FROM payments")
    assert row["discount_percent"] == Decimal("7.00")
    assert row["valuation_status"] == "undervalued"
    assert row["fair_value"] == Decimal("250")


async def test_a_payment_for_an_order_uses_its_total(pool: asyncpg.Pool, api: TestClient,
                                                     merchant: dict[str, str]) -> None:
    order_id = await pool.fetchval(
        "INSERT INTO orders (store_id, number, currency, subtotal, total) "
        "SELECT id, 'ORD-T-1', 'USD', 30, 30 FROM stores WHERE slug = 'shop' RETURNING id")
    pay = await create(api, merchant, amount=None, currency=None, order_id=str(order_id))
    assert pay["order_id"] == str(order_id)
    assert pay["amount_due"] == "200000000"  # 30 / 150 SOL


async def test_get_list_and_filters(api: TestClient, merchant: dict[str, str]) -> None:
    made = [await create(api, merchant, amount=str(10 + i)) for i in range(5)]
    resp = await api.get(f"/v1/payments/{made[0]['id']}", headers=merchant)
    assert resp.status == 200
    assert (await resp.json())["id"] == made[0]["id"]

    seen: list[str] = []
    cursor = None
    for expected in (2, 2, 1):
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await (await api.get("/v1/payments", params=query, headers=merchant)).json()
        assert len(page["data"]) == expected
        seen += [p["id"] for p in page["data"]]
        cursor = page["next_cursor"]
        assert page["has_more"] == (cursor is not None)
    assert seen == [p["id"] for p in reversed(made)]

    usdc = await create(api, merchant, asset="USDC")
    page = await (await api.get("/v1/payments", params={"asset": "USDC"},
                                headers=merchant)).json()
    assert [p["id"] for p in page["data"]] == [usdc["id"]]


async def test_cancel_only_a_pending_payment_once(pool: asyncpg.Pool, api: TestClient,
                                                   merchant: dict[str, str]) -> None:
    pay = await create(api, merchant)
    url = f"/v1/payments/{pay['id']}/cancel"
    resp = await api.post(url, json={"reason": "customer left"}, headers=merchant)
    assert resp.status == 200
    assert (await resp.json())["status"] == "cancelled"
    again = await api.post(url, json={}, headers=merchant)
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "payment_not_cancellable"
    events = await pool.fetch("SELECT type FROM events ORDER BY seq")
    assert [e["type"] for e in events] == ["payment.created", "payment.cancelled"]
    actions = await pool.fetch("SELECT action FROM audit_log WHERE object_type = 'payment' "
                               "ORDER BY id")
    assert [a["action"] for a in actions] == ["payment.create", "payment.cancel"]


async def test_settle_by_hand_marks_the_payment_and_pays_the_order(
        pool: asyncpg.Pool, api: TestClient, merchant: dict[str, str]) -> None:
    order_id = await pool.fetchval(
        "INSERT INTO orders (store_id, number, currency, subtotal, total) "
        "SELECT id, 'ORD-T-2', 'USD', 15, 15 FROM stores WHERE slug = 'shop' RETURNING id")
    pay = await create(api, merchant, amount=None, currency=None, order_id=str(order_id))
    await pool.execute("UPDATE payments SET status = 'expired' WHERE id = $1",
                       uuid.UUID(pay["id"]))
    url = f"/v1/payments/{pay['id']}/settle"
    assert (await api.post(url, json={}, headers=merchant)).status == 422  # reason required
    resp = await api.post(url, json={"reason": "paid 99% by bank transfer"}, headers=merchant)
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "confirmed"
    assert body["exception"] == "marked"
    order = await pool.fetchrow("SELECT status, paid_at FROM orders WHERE id = $1", order_id)
    assert order["status"] == "paid"
    assert order["paid_at"] is not None
    types = [r["type"] for r in await pool.fetch("SELECT type FROM events ORDER BY seq")]
    assert types == ["payment.created", "payment.confirmed", "order.paid"]
    audit = await pool.fetchrow("SELECT before, after FROM audit_log "
                                "WHERE action = 'payment.settle'")
    assert audit["before"]["status"] == "expired"
    assert audit["after"]["exception"] == "marked"
    assert (await api.post(url, json={"reason": "again"}, headers=merchant)).status == 409


async def test_qr_code_is_an_svg_of_the_url(api: TestClient, merchant: dict[str, str]) -> None:
    pay = await create(api, merchant)
    resp = await api.get(pay["payment_request"]["qr_code_url"], headers=merchant)
    assert resp.status == 200
    assert resp.content_type == "image/svg+xml"
    assert (await resp.text()).lstrip().startswith("<?xml")


async def test_another_stores_payment_is_404_everywhere(
        api: TestClient, merchant: dict[str, str], other_merchant: dict[str, str]) -> None:
    pay = await create(api, merchant)
    for method, path, body in (
            ("GET", f"/v1/payments/{pay['id']}", None),
            ("GET", f"/v1/payments/{pay['id']}/qr.svg", None),
            ("POST", f"/v1/payments/{pay['id']}/cancel", {}),
            ("POST", f"/v1/payments/{pay['id']}/settle", {"reason": "x"})):
        resp = await api.request(method, path, json=body, headers=other_merchant)
        assert resp.status == 404, (method, path)
        assert (await resp.json())["error"]["code"] == "resource_missing"
    page = await (await api.get("/v1/payments", headers=other_merchant)).json()
    assert page["data"] == []


async def test_idempotency_replays_conflicts_and_survives_concurrency(
        pool: asyncpg.Pool, api: TestClient, merchant: dict[str, str]) -> None:
    body = {"amount": "5", "currency": "USD", "asset": "SOL"}
    key = {**merchant, "Idempotency-Key": "order-77-attempt"}
    first = await api.post("/v1/payments", json=body, headers=key)
    second = await api.post("/v1/payments", json=body, headers=key)
    assert first.status == second.status == 201
    assert await first.json() == await second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    other = await api.post("/v1/payments", json={**body, "amount": "6"}, headers=key)
    assert other.status == 409
    assert (await other.json())["error"]["code"] == "idempotency_key_reused"

    racing = {**merchant, "Idempotency-Key": "racing"}
    answers = await asyncio.gather(*(api.post("/v1/payments", json=body, headers=racing)
                                     for _ in range(8)))
    assert {r.status for r in answers} == {201}
    ids = {(await r.json())["id"] for r in answers}
    assert len(ids) == 1
    assert await pool.fetchval("SELECT count(*) FROM payments") == 2
    assert await pool.fetchval("SELECT count(*) FROM events") == 2


async def test_missing_price_is_503_never_a_stale_quote(pool: asyncpg.Pool) -> None:
    headers, _ = await make_store(pool, "bonk-shop")
    async with api_client(pool, static_prices='{"SOL": "150"}') as api:
        resp = await api.post("/v1/payments", json={"amount": "1", "currency": "USD",
                                                    "asset": "USDC"}, headers=headers)
        assert resp.status == 503
        error = (await resp.json())["error"]
        assert error["code"] == "price_not_configured"  # no source can ever price USDC here
        assert "Retry-After" not in resp.headers
    # a source that is configured but down: a transient 503 with Retry-After
    async with api_client(pool, price_sources="coingecko",
                          coingecko_url="http://127.0.0.1:9/simple/price") as api:
        resp = await api.post("/v1/payments", json={"amount": "1", "currency": "USD",
                                                    "asset": "SOL"}, headers=headers)
        assert resp.status == 503
        assert (await resp.json())["error"]["code"] == "price_unavailable"
        assert resp.headers["Retry-After"] == "30"
    assert await pool.fetchval("SELECT count(*) FROM payments") == 0


async def test_payments_need_the_right_scope(pool: asyncpg.Pool, api: TestClient) -> None:
    headers, _ = await make_store(pool, "readonly", scopes=["payments:read"])
    resp = await api.post("/v1/payments", json={"amount": "1", "currency": "USD",
                                                "asset": "SOL"}, headers=headers)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "missing_scope"
