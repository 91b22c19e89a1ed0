"""The ledger: one transition has one outcome whichever path takes it, and every payment event
carries the full payment under `data.object` (the same object the API returns)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from db import transfers
from paywatch.services.payments import Change, resettle
from paywatch.services.sweeps import expire_payments
from tests.conftest import RECIPIENT


async def _payment(api: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    resp = await api.post("/v1/payments", headers=headers,
                          json={"amount": "1", "currency": "USD", "asset": "SOL"})
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def _record_transfer(pool: asyncpg.Pool, payment: dict[str, Any], amount: int,
                           seen_after_expiry: bool) -> None:
    """A finalized transfer to the payment, first seen before or after the payment expired."""
    async with pool.acquire() as conn, conn.transaction():
        expires_at = await conn.fetchval("SELECT expires_at FROM payments WHERE id = $1",
                                         uuid.UUID(payment["id"]))
        offset = 60 if seen_after_expiry else -60
        block_time = await conn.fetchval("SELECT $1::timestamptz + make_interval(secs => $2)",
                                         expires_at, offset)
        await transfers.insert_transfer(conn, {
            "chain": "solana", "tx_id": uuid.uuid4().hex, "index": 0,
            "payment_id": uuid.UUID(payment["id"]), "asset": "SOL", "recipient": RECIPIENT,
            "amount": amount, "slot": 1, "block_time": block_time, "status": "finalized",
            "store_id": await conn.fetchval("SELECT store_id FROM payments WHERE id = $1",
                                            uuid.UUID(payment["id"]))})
        await resettle(conn, uuid.UUID(payment["id"]), Change("test", None))


async def _events(pool: asyncpg.Pool, payment_id: str) -> dict[str, Any]:
    rows = await pool.fetch("SELECT type, data FROM events WHERE payment_id = $1 ORDER BY seq",
                            uuid.UUID(payment_id))
    return {r["type"]: r["data"] for r in rows}


async def _shown(api: TestClient, headers: dict[str, str], payment_id: str) -> dict[str, Any]:
    resp = await api.get(f"/v1/payments/{payment_id}", headers=headers)
    assert resp.status == 200
    return dict(await resp.json())


async def test_a_late_transfer_expires_a_pending_payment_like_the_sweep_does(
        pool: asyncpg.Pool, api: TestClient, merchant: dict[str, str]) -> None:
    swept, paid_late = await _payment(api, merchant), await _payment(api, merchant)
    await pool.execute("UPDATE payments SET created_at = now() - interval '1 hour', "
                       "expires_at = now() - interval '10 minutes', "
                       "monitor_until = now() + interval '1 hour' WHERE id = $1",
                       uuid.UUID(swept["id"]))
    assert await expire_payments(pool) == 1
    # The second one is still pending when money arrives after its expiry (no sweep ran yet).
    await pool.execute("UPDATE payments SET created_at = now() - interval '1 hour', "
                       "expires_at = now() - interval '10 minutes', "
                       "monitor_until = now() + interval '1 hour' WHERE id = $1",
                       uuid.UUID(paid_late["id"]))
    await _record_transfer(pool, paid_late, int(paid_late["amount_due"]), True)

    by_sweep = await _shown(api, merchant, swept["id"])
    by_transfer = await _shown(api, merchant, paid_late["id"])
    assert (by_sweep["status"], by_transfer["status"]) == ("expired", "expired")
    assert by_transfer["exception"] == "paid_late"
    assert by_sweep["closed_at"] is not None
    assert by_transfer["closed_at"] is not None
    assert list(await _events(pool, swept["id"])) == ["payment.created", "payment.expired"]
    assert list(await _events(pool, paid_late["id"])) == [
        "payment.created", "payment.expired", "payment.paid_late"]
    expired_by_sweep = (await _events(pool, swept["id"]))["payment.expired"]
    expired_by_transfer = (await _events(pool, paid_late["id"]))["payment.expired"]
    assert set(expired_by_sweep) == set(expired_by_transfer)
    assert expired_by_sweep["object"] == by_sweep


async def test_payment_confirmed_carries_the_full_payment_whichever_path_emitted_it(
        pool: asyncpg.Pool, api: TestClient, merchant: dict[str, str]) -> None:
    on_chain, by_hand = await _payment(api, merchant), await _payment(api, merchant)
    await _record_transfer(pool, on_chain, int(on_chain["amount_due"]), False)
    resp = await api.post(f"/v1/payments/{by_hand['id']}/settle", headers=merchant,
                          json={"reason": "paid by bank transfer"})
    assert resp.status == 200, await resp.text()

    from_chain = (await _events(pool, on_chain["id"]))["payment.confirmed"]
    from_hand = (await _events(pool, by_hand["id"]))["payment.confirmed"]
    assert set(from_chain) == set(from_hand)
    assert from_chain["object"] == await _shown(api, merchant, on_chain["id"])
    assert from_hand["object"] == await _shown(api, merchant, by_hand["id"])
    assert from_chain["object"]["status"] == from_hand["object"]["status"] == "confirmed"
    assert (from_chain["previous_status"], from_hand["previous_status"]) == ("pending",
                                                                             "pending")
    assert json.loads(json.dumps(from_hand)) == from_hand  # plain JSON, nothing lost


async def test_the_object_builder_is_exactly_what_the_api_model_publishes(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    """POST /v1/payments answers with the builder's JSON without a model round trip, so the
    builder must produce what the published Payment model would: checked with a transfer."""
    from api.models.payments import Payment
    from db import payments as db
    from paywatch.core.objects import payment_object

    created = await _payment(api, merchant)
    assert created == await _shown(api, merchant, created["id"])
    await _record_transfer(pool, created, int(created["amount_due"]), seen_after_expiry=False)
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM payments WHERE id = $1",
                                  uuid.UUID(created["id"]))
        built = payment_object(row, await db.transfers_of(conn, row["id"]), None)
    assert len(built["transfers"]) == 1
    assert Payment.model_validate(built).model_dump(mode="json") == built
