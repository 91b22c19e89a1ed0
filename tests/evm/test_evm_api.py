"""Configuring a store for an EVM chain and creating EVM payments through the API: derivation,
atomic index allocation, EIP-681 URIs, shared-address amounts, and every bad input refused."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from aiohttp.test_utils import TestClient
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins

from paywatch.core.evm import derive_address
from tests.evm.conftest import MNEMONIC, XPUB, EvmHarness, make_evm_store

# The BIP39 test vector's first Ethereum address (m/44'/60'/0'/0/0), as every wallet shows it.
FIRST_ADDRESS = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"


def test_derivation_from_the_xpub_matches_the_wallet_addresses() -> None:
    account = Bip44.FromSeed(Bip39SeedGenerator(MNEMONIC).Generate(), Bip44Coins.ETHEREUM) \
        .Purpose().Coin().Account(0).Change(Bip44Changes.CHAIN_EXT)
    assert derive_address(XPUB, 0) == FIRST_ADDRESS
    for n in (1, 7, 1000):
        assert derive_address(XPUB, n) == account.AddressIndex(n).PublicKey().ToAddress()


async def test_deposit_addresses_are_fresh_sequential_and_allocated_atomically(
        evm: EvmHarness) -> None:
    payments = await asyncio.gather(*(evm.create("5", "USDT") for _ in range(20)))
    rows = [await evm.payment(p["id"]) for p in payments]
    assert sorted(r["derivation_index"] for r in rows) == list(range(20))
    for p, r in zip(payments, rows, strict=True):
        request = p["payment_request"]
        assert request["recipient"] == derive_address(XPUB, r["derivation_index"])
        assert request["url"] == (f"ethereum:{evm.usdt}@31337/transfer?"
                                  f"address={request['recipient']}&uint256=5000000")
        assert request["reference"] is None
        assert request["chain_id"] == 31337
    store = await evm.pool.fetchrow("SELECT next_index FROM store_evm_chains WHERE store_id = $1",
                                    evm.store_id)
    assert store["next_index"] == 20


async def test_a_rolled_back_payment_gives_its_index_back(evm: EvmHarness) -> None:
    first = await evm.create("5", "ETH")
    bad = await evm.api.post("/v1/payments", headers=evm.headers, json={
        "order_id": str(uuid.uuid4()), "asset": "ETH", "chain": "anvil"})
    assert bad.status == 404
    second = await evm.create("5", "ETH")
    indexes = [(await evm.payment(p["id"]))["derivation_index"] for p in (first, second)]
    assert indexes == [0, 1]


async def test_shared_address_amounts_rise_in_the_last_digits(evm: EvmHarness) -> None:
    address = evm.anvil.accounts[8]
    evm.headers, _ = await make_evm_store(evm.pool, evm.chain, "shared", "shared_address",
                                          address.lower())
    eth = [await evm.create("25", "ETH") for _ in range(3)]
    amounts = [int(p["payment_request"]["amount"]) for p in eth]
    base = 25 * 10**18 // 2500
    assert amounts == [base, base + 10**10, base + 2 * 10**10]  # steps of 1e-8 ETH
    assert all(p["payment_request"]["recipient"] == address for p in eth)  # EIP-55 stored
    assert eth[0]["payment_request"]["url"] == f"ethereum:{address}@31337?value={base}"
    # A cancelled payment frees its amount for the next one.
    resp = await evm.api.post(f"/v1/payments/{eth[0]['id']}/cancel", headers=evm.headers,
                              json={})
    assert resp.status == 200, await resp.text()
    again = await evm.create("25", "ETH")
    assert int(again["payment_request"]["amount"]) == base


async def test_concurrent_shared_payments_never_share_an_amount(evm: EvmHarness) -> None:
    evm.headers, _ = await make_evm_store(evm.pool, evm.chain, "shared", "shared_address",
                                          evm.anvil.accounts[8])
    payments = await asyncio.gather(*(evm.create("7", "USDT") for _ in range(25)))
    amounts = sorted(int(p["payment_request"]["amount"]) for p in payments)
    assert amounts == list(range(7_000_000, 7_000_025))


async def _admin(pool: asyncpg.Pool) -> dict[str, str]:
    from db import api_keys
    from paywatch.core.apikeys import display_prefix, generate_key, hash_key

    key = generate_key()
    async with pool.acquire() as conn:
        await api_keys.insert_key(conn, None, "operator", display_prefix(key), hash_key(key),
                                  ["admin"])
    return {"Authorization": f"Bearer {key}"}


async def _create_store(api: TestClient, admin: dict[str, str], **fields: object) -> tuple:
    resp = await api.post("/v1/stores", headers=admin, json={
        "slug": f"s{uuid.uuid4().hex[:8]}", "name": "EVM shop", **fields})
    return resp.status, await resp.json()


async def test_store_evm_settings_through_the_api(evm: EvmHarness) -> None:
    admin = await _admin(evm.pool)
    status, store = await _create_store(
        evm.api, admin, evm={"anvil": {"mode": "deposit_address", "xpub": XPUB}},
        assets=[{"chain": "anvil", "asset": "ETH"}, {"chain": "anvil", "asset": "USDT"}])
    assert status == 201, store
    assert store["evm"]["anvil"] == {"mode": "deposit_address", "xpub": XPUB, "address": None,
                                     "next_index": 0}
    assets = {(a["chain"], a["asset"]): (a["mint"], a["decimals"]) for a in store["assets"]}
    assert assets == {("anvil", "ETH"): (None, 18), ("anvil", "USDT"): (evm.usdt, 6)}
    resp = await evm.api.post(f"/v1/stores/{store['id']}", headers=admin,
                              json={"evm": {"anvil": None}})
    assert resp.status == 200
    assert (await resp.json())["evm"] == {}


XPRV = (Bip44.FromSeed(Bip39SeedGenerator(MNEMONIC).Generate(), Bip44Coins.ETHEREUM)
        .Purpose().Coin().Account(0).PrivateKey().ToExtended())


async def test_bad_evm_store_settings_are_refused(evm: EvmHarness) -> None:
    admin = await _admin(evm.pool)
    cases = [
        ({"evm": {"anvil": {"mode": "deposit_address", "xpub": XPRV}}}, 422, "evm"),
        ({"evm": {"anvil": {"mode": "deposit_address", "xpub": "xpub" + "1" * 107}}}, 422, "evm"),
        ({"evm": {"anvil": {"mode": "deposit_address"}}}, 422, "evm"),
        ({"evm": {"anvil": {"mode": "shared_address", "address": "0x1234"}}}, 422, "evm"),
        # A mixed-case address whose EIP-55 checksum is wrong is a typo, not an address.
        ({"evm": {"anvil": {"mode": "shared_address",
                            "address": FIRST_ADDRESS[:-1] + "5"}}}, 422, "evm"),
        ({"evm": {"mainnet": {"mode": "deposit_address", "xpub": XPUB}}}, 422, "evm"),
        ({"assets": [{"chain": "anvil", "asset": "WBTC"}]}, 422, "assets"),
        ({"assets": [{"chain": "anvil", "asset": "USDT", "decimals": 18}]}, 422, "assets"),
        ({"evm": {"anvil": {"mode": "deposit_address", "xpub": XPUB, "extra": 1}}}, 422, "evm"),
    ]
    for fields, status, param in cases:
        got, body = await _create_store(evm.api, admin, **fields)
        assert got == status, (fields, body)
        assert body["error"]["param"].split(".")[0] == param, (fields, body)
    count = await evm.pool.fetchval("SELECT count(*) FROM stores WHERE name = 'EVM shop'")
    assert count == 0  # nothing half-created


async def test_bad_evm_payments_are_refused(evm: EvmHarness) -> None:
    async def post(**fields: object) -> tuple[int, dict]:
        resp = await evm.api.post("/v1/payments", headers=evm.headers, json={
            "amount": "5", "currency": "USD", "asset": "USDT", "chain": "anvil", **fields})
        return resp.status, (await resp.json())["error"]

    status, error = await post(chain="polygon")
    assert (status, error["code"], error["param"]) == (422, "chain_not_configured", "chain")
    status, error = await post(memo="order 42")
    assert (status, error["param"]) == (422, "memo")
    status, error = await post(asset="SOL")
    assert (status, error["code"]) == (422, "asset_not_accepted")
    # A store with no settings for the chain.
    headers, _ = await _plain_store(evm.pool)
    resp = await evm.api.post("/v1/payments", headers=headers, json={
        "amount": "5", "currency": "USD", "asset": "ETH", "chain": "anvil"})
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == "chain_not_configured"
    assert await evm.pool.fetchval("SELECT count(*) FROM payments") == 0


async def _plain_store(pool: asyncpg.Pool) -> tuple[dict[str, str], object]:
    from tests.conftest import make_store

    return await make_store(pool, "solana-only")


async def test_unmatched_list_is_scoped_and_paginated(evm: EvmHarness) -> None:
    address = evm.anvil.accounts[7]
    headers, store_id = await make_evm_store(evm.pool, evm.chain, "shared", "shared_address",
                                             address)
    for n in range(3):
        await evm.pool.execute(
            "INSERT INTO transfers (chain, tx_id, index, store_id, asset, recipient, amount, "
            "status, unmatched_reason) VALUES ('anvil', $1, 1, $2, 'USDT', $3, $4, 'confirmed', "
            "'test')", f"0x{n:064x}", store_id, address, 1000 + n)
    resp = await evm.api.get("/v1/transfers/unmatched?limit=2", headers=headers)
    page = await resp.json()
    assert [t["amount"] for t in page["data"]] == ["1002", "1001"]
    assert page["has_more"] is True
    resp = await evm.api.get(f"/v1/transfers/unmatched?limit=2&cursor={page['next_cursor']}",
                             headers=headers)
    rest = await resp.json()
    assert [t["amount"] for t in rest["data"]] == ["1000"]
    assert rest["has_more"] is False
    other = await evm.api.get("/v1/transfers/unmatched", headers=evm.headers)
    assert (await other.json())["data"] == []
    bad = await evm.api.get("/v1/transfers/unmatched?cursor=abc", headers=headers)
    assert bad.status == 422


async def test_quotes_for_evm_assets(evm: EvmHarness) -> None:
    resp = await evm.api.get("/v1/quotes?asset=ETH&amount=50&chain=anvil", headers=evm.headers)
    assert resp.status == 200, await resp.text()
    quote = await resp.json()
    assert quote["amount"] == str(50 * 10**18 // 2500)
    assert quote["decimals"] == 18
    resp = await evm.api.get("/v1/quotes?asset=ETH&amount=50", headers=evm.headers)
    assert resp.status == 422  # the store takes ETH on anvil, not on Solana


async def test_checkout_page_for_an_evm_payment(evm: EvmHarness) -> None:
    from paywatch.core.evm import remainder_uri

    payment = await evm.create("25", "USDT")
    request = payment["payment_request"]
    assert payment["checkout_url"] == f"/pay/{payment['id']}"
    resp = await evm.api.get(payment["checkout_url"])
    assert resp.status == 200
    page = await resp.text()
    assert request["recipient"] in page
    assert "25" in page
    assert request["url"].replace("&", "&amp;") in page  # the wallet button opens the URI
    qr = await evm.api.get(f"/pay/{payment['id']}/qr.svg")
    assert qr.status == 200
    assert (await qr.read()).startswith(b"<?xml")
    assert remainder_uri(request["url"], 1_000_000) == (
        f"ethereum:{evm.usdt}@31337/transfer?address={request['recipient']}&uint256=1000000")
    native = f"ethereum:{request['recipient']}@31337?value=5"
    assert remainder_uri(native, 2) == f"ethereum:{request['recipient']}@31337?value=2"
