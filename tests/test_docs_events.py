"""The webhook payload schemas match what is really sent: events emitted by the real code
paths (the API, a transfer recorded as the watcher records one, the endpoint-disabling job's
payload builder) validate against the document's `webhooks` schemas and the pydantic models,
which forbid unknown fields."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.models.events import EVENT_DATA, EVENT_MODELS
from paywatch.services import payments, transfers
from tests.conftest import RECIPIENT, make_store
from tests.test_docs_examples import Schemas, check_webhook

SENDER = "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"
ORDER = {"customer": {"email": "grace@example.com"}, "currency": "USD",
         "items": [{"sku": "mug", "name": "Mug", "quantity": 1, "unit_price": "15.00"}]}


async def _seen(pool: asyncpg.Pool, payment: dict[str, Any]) -> None:
    """The payment's money seen at `processed` (not deep enough yet): payment.detected."""
    async with pool.acquire() as conn, conn.transaction():
        await transfers.record(conn, {
            "chain": "solana", "tx_id": "5" * 88, "index": 0, "payment_id": payment["id"],
            "store_id": None, "asset": "SOL", "mint": None, "sender": SENDER,
            "recipient": RECIPIENT, "amount": int(payment["amount_due"]), "slot": 10,
            "status": "processed", "matched_by": "reference"})
        await payments.resettle(conn, uuid.UUID(payment["id"]),
                                payments.Change("watcher:solana", None))


async def _unmatched(pool: asyncpg.Pool, store_id: Any) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await transfers.record(conn, {
            "chain": "solana", "tx_id": "6" * 88, "index": 0, "store_id": store_id,
            "asset": "SOL", "mint": None, "sender": SENDER, "recipient": RECIPIENT,
            "amount": 1234, "slot": 11, "status": "confirmed",
            "unmatched_reason": "no reference of ours"})


async def _emit_some(api: TestClient, pool: asyncpg.Pool) -> dict[str, str]:
    headers, store = await make_store(pool, "evented")
    order = await (await api.post("/v1/orders", headers=headers, json=ORDER)).json()
    payment = await (await api.post("/v1/payments", headers=headers, json={
        "order_id": order["id"], "asset": "SOL"})).json()
    await _seen(pool, payment)
    settled = await api.post(f"/v1/payments/{payment['id']}/settle", headers=headers,
                             json={"reason": "checked by hand"})
    assert settled.status == 200, await settled.text()
    other = await (await api.post("/v1/orders", headers=headers, json=ORDER)).json()
    cancelled = await api.post(f"/v1/orders/{other['id']}/cancel", headers=headers, json={})
    assert cancelled.status == 200, await cancelled.text()
    await _unmatched(pool, store["id"])
    return headers


async def test_real_emitted_events_validate_against_their_schemas(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers = await _emit_some(api, pool)
    doc = await (await api.get("/openapi.json")).json()
    listed = await (await api.get("/v1/events?limit=100", headers=headers)).json()
    schemas, seen = Schemas(doc), set()
    for event in listed["data"]:
        body = {k: event[k] for k in ("id", "type", "created_at", "data")}  # as delivered
        check_webhook(schemas, doc, body)
        EVENT_MODELS[body["type"]].model_validate(body)
        seen.add(body["type"])
    assert {"order.created", "payment.created", "payment.detected", "payment.confirmed",
            "order.paid", "order.cancelled", "transfer.unmatched"} <= seen, seen


async def test_the_schemas_refuse_what_is_not_sent(api: TestClient, pool: asyncpg.Pool) -> None:
    headers = await _emit_some(api, pool)
    doc = await (await api.get("/openapi.json")).json()
    listed = await (await api.get("/v1/events?type=payment.confirmed", headers=headers)).json()
    event = listed["data"][0]
    body = {k: event[k] for k in ("id", "type", "created_at", "data")}
    assert body["data"]["settled_by_hand"] is True
    schemas = Schemas(doc)
    check_webhook(schemas, doc, body)
    for broken in ({**body, "data": {**body["data"], "extra": 1}},
                   {**body, "data": {k: v for k, v in body["data"].items()
                                     if k != "settled_by_hand"}},
                   {**body, "created_at": None}):
        with pytest.raises(AssertionError):
            check_webhook(schemas, doc, broken)


def test_the_disabled_endpoint_event_matches_its_builder() -> None:
    from watcher.webhooks import _disabled

    data = _disabled({"id": uuid.uuid4(), "url": "https://shop.example.com/hooks"}, 5)
    body = {"id": str(uuid.uuid4()), "type": "webhook_endpoint.disabled",
            "created_at": "2026-01-01T00:00:00Z", "data": data}
    EVENT_MODELS["webhook_endpoint.disabled"].model_validate(body)


def test_every_event_type_the_api_accepts_has_a_schema() -> None:
    from typing import get_args

    from api.webhooks import EventType

    assert set(get_args(EventType)) - {"*"} == set(EVENT_DATA)
