"""Quotes, the stores API (operator and store admin keys), analytics, and the API documents."""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp.test_utils import TestClient

from db import api_keys
from paywatch.core.apikeys import display_prefix, generate_key, hash_key
from tests.conftest import RECIPIENT, USDC_MINT, make_store


async def operator_key(pool: asyncpg.Pool) -> dict[str, str]:
    key = generate_key()
    async with pool.acquire() as conn:
        await api_keys.insert_key(conn, None, "ops", display_prefix(key), hash_key(key),
                                  ["admin"])
    return {"Authorization": f"Bearer {key}"}


async def test_quote_endpoint_stores_nothing(api: TestClient, merchant: dict[str, str],
                                             pool: asyncpg.Pool) -> None:
    resp = await api.get("/v1/quotes", params={"asset": "SOL", "amount": "300"},
                         headers=merchant)
    assert resp.status == 200
    quote = await resp.json()
    assert quote["amount"] == "2000000000"
    assert quote["amount_display"] == "2"
    assert quote["currency"] == "USD"
    assert quote["cfv"]["discount_percent"] == "0"
    assert await pool.fetchval("SELECT count(*) FROM payments") == 0
    bad = await api.get("/v1/quotes", params={"asset": "SOL", "amount": "-1"}, headers=merchant)
    assert bad.status == 422


async def test_operator_creates_and_updates_a_store(api: TestClient,
                                                    pool: asyncpg.Pool) -> None:
    ops = await operator_key(pool)
    resp = await api.post("/v1/stores", headers=ops, json={
        "slug": "coffee", "name": "Coffee Co", "solana_recipient": RECIPIENT,
        "commitment": "finalized", "underpaid_tolerance_percent": "1.5",
        "assets": [{"asset": "SOL", "decimals": 9},
                   {"asset": "USDC", "mint": USDC_MINT, "decimals": 6}],
        "cfv_policy": {"enabled": True, "cap_percent": "5"}})
    assert resp.status == 201, await resp.text()
    store = await resp.json()
    assert store["commitment"] == "finalized"
    assert store["payment_lifetime_seconds"] == 900
    assert store["monitoring_window_seconds"] == 86400
    assert [a["asset"] for a in store["assets"]] == ["SOL", "USDC"]
    assert store["cfv_policy"]["cap_percent"] == "5"

    dup = await api.post("/v1/stores", headers=ops, json={"slug": "coffee", "name": "x"})
    assert dup.status == 409
    resp = await api.post("/v1/stores/coffee", headers=ops, json={
        "finalized_above": "1000", "payment_lifetime_seconds": 600,
        "assets": [{"asset": "SOL", "decimals": 9}]})
    assert resp.status == 200
    updated = await resp.json()
    assert updated["finalized_above"] == "1000.00000000"
    assert updated["payment_lifetime_seconds"] == 600
    assert [a["asset"] for a in updated["assets"]] == ["SOL"]
    assert updated["commitment"] == "finalized"  # untouched
    bad = await api.post("/v1/stores/coffee", headers=ops,
                         json={"solana_recipient": "0OIl"})
    assert bad.status == 422
    assert (await bad.json())["error"]["param"] == "solana_recipient"
    audit = await pool.fetch("SELECT a.action FROM audit_log a JOIN stores s "
                             "ON a.object_id = s.id::text "
                             "WHERE a.object_type = 'store' AND s.slug = 'coffee' ORDER BY a.id")
    assert [a["action"] for a in audit] == ["store.create", "store.update"]


async def test_store_keys_see_only_their_store(api: TestClient, pool: asyncpg.Pool) -> None:
    mine, store = await make_store(pool, "mine", scopes=["admin"])
    _theirs, other = await make_store(pool, "theirs")
    listing = await (await api.get("/v1/stores", headers=mine)).json()
    assert [s["slug"] for s in listing["data"]] == ["mine"]
    assert (await api.get(f"/v1/stores/{other['id']}", headers=mine)).status == 404
    assert (await api.get("/v1/stores/theirs", headers=mine)).status == 404
    assert (await api.get(f"/v1/stores/{store['id']}", headers=mine)).status == 200
    resp = await api.post("/v1/stores", headers=mine, json={"slug": "x", "name": "x"})
    assert resp.status == 403
    plain, _ = await make_store(pool, "plain")
    assert (await api.get("/v1/stores", headers=plain)).status == 403


async def test_finalized_above_threshold_raises_the_commitment(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "big")
    await pool.execute("UPDATE stores SET finalized_above = 500 WHERE id = $1", store["id"])
    small = await api.post("/v1/payments", headers=headers,
                           json={"amount": "499.99", "currency": "USD", "asset": "USDC"})
    large = await api.post("/v1/payments", headers=headers,
                           json={"amount": "500", "currency": "USD", "asset": "USDC"})
    assert (await small.json())["required_commitment"] == "confirmed"
    assert (await large.json())["required_commitment"] == "finalized"


async def test_analytics_summary(api: TestClient, merchant: dict[str, str],
                                 pool: asyncpg.Pool) -> None:
    ids = []
    for amount in ("30", "60", "90"):
        resp = await api.post("/v1/payments", headers=merchant,
                              json={"amount": amount, "currency": "USD", "asset": "SOL"})
        ids.append(uuid.UUID((await resp.json())["id"]))
    # two confirmed (received in full), one still pending
    await pool.execute(
        "UPDATE payments SET status = 'confirmed', amount_received = amount_due, "
        "created_at = now() - interval '1 minute', confirmed_at = now() - interval '50 s' "
        "WHERE id = ANY($1)", ids[:2])
    resp = await api.get("/v1/analytics/summary", headers=merchant,
                         params={"group_by": "month"})
    assert resp.status == 200, await resp.text()
    summary = await resp.json()
    assert summary["created"] == 3
    assert summary["confirmed"] == 2
    assert summary["conversion"] == "0.6667"
    assert summary["payments_by_status"] == {"confirmed": 2, "pending": 1}
    assert summary["median_seconds_to_confirm"] == "10.0"
    assert summary["fiat_totals"] == {"USD": "90.00"}
    [row] = summary["revenue"]
    assert row["asset"] == "SOL"
    assert row["received"] == "600000000"  # 0.2 + 0.4 SOL
    assert row["received_display"] == "0.6"
    bad = await api.get("/v1/analytics/summary", headers=merchant,
                        params={"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"})
    assert bad.status == 422


async def test_openapi_and_docs(api: TestClient) -> None:
    resp = await api.get("/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    create = doc["paths"]["/v1/payments"]["post"]
    schema = doc["components"]["schemas"]["PaymentCreate"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/PaymentCreate")
    assert schema["additionalProperties"] is False
    assert "asset" in schema["required"]
    assert {"201", "401", "409", "422", "503"} <= set(create["responses"])
    page = await api.get("/docs")
    assert page.status == 200
    html = await page.text()
    assert "/v1/payments/{id}/settle" in html
    assert "<script" not in html
    assert "<style" not in html  # its stylesheet is a file we serve (tests/test_docs_page.py)
