"""Refunds API: where the money goes back by default (and when there is no default), every
refusal (a clear 4xx, nothing changed), idempotency, rates, listing. Money reaches payments the
one way the watchers record it (services/transfers.record, then payments.resettle); the
simnet and anvil tests send refunds from the merchant's wallet for real."""

from __future__ import annotations

import os
import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from solders.keypair import Keypair

from paywatch.services import payments, transfers
from paywatch.services.payments import Change
from tests.conftest import RECIPIENT, make_store

CUSTOMER = str(Keypair().pubkey())


async def create(api: TestClient, headers: dict[str, str], **body: object) -> dict:
    payload = {"amount": "30.00", "currency": "USD", "asset": "SOL", **body}
    resp = await api.post("/v1/payments", json=payload, headers=headers)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def receive(pool: asyncpg.Pool, pay: dict, amount: int | None = None,
                  sender: str = CUSTOMER, **extra: Any) -> None:
    """Money for `pay`, recorded as the Solana watcher records it, and the payment settled."""
    payment_id = uuid.UUID(pay["id"])
    async with pool.acquire() as conn, conn.transaction():
        await transfers.record(conn, {
            "chain": "solana", "tx_id": os.urandom(32).hex(), "index": 0,
            "payment_id": payment_id, "asset": pay["asset"], "mint": pay["mint"],
            "sender": sender, "recipient": RECIPIENT,
            "amount": int(pay["amount_due"]) if amount is None else amount,
            "status": "confirmed", "matched_by": "reference", **extra})
        await payments.resettle(conn, payment_id, Change("test", None))


async def paid(api: TestClient, pool: asyncpg.Pool, headers: dict[str, str],
               **extra: Any) -> dict:
    pay = await create(api, headers)
    await receive(pool, pay, **extra)
    return pay


async def refund(api: TestClient, headers: dict[str, str], payment_id: str,
                 **body: Any) -> tuple[int, dict]:
    resp = await api.post(f"/v1/payments/{payment_id}/refunds", json=body, headers=headers)
    return resp.status, dict(await resp.json())


async def snapshot(pool: asyncpg.Pool) -> tuple[int, int, int]:
    return (await pool.fetchval("SELECT count(*) FROM refunds"),
            await pool.fetchval("SELECT count(*) FROM events"),
            await pool.fetchval("SELECT coalesce(sum(amount_refunded), 0) FROM payments"))


# ----- destination rules ---------------------------------------------------------------------

async def test_the_default_destination_is_the_payer_then_the_sender(
        api: TestClient, pool: asyncpg.Pool, merchant: dict[str, str]) -> None:
    by_sender = await paid(api, pool, merchant)
    status, made = await refund(api, merchant, by_sender["id"], amount="1000")
    assert status == 201, made
    assert (made["destination"], made["destination_from"]) == (CUSTOMER, "sender")

    asked = await create(api, merchant)
    payer = str(Keypair().pubkey())
    async with pool.acquire() as conn:
        assert await payments.record_payer(conn, uuid.UUID(asked["id"]), payer)
    await receive(pool, asked, sender=payer, matched_by="transaction_request")
    status, made = await refund(api, merchant, asked["id"], amount="1000")
    assert (status, made["destination"], made["destination_from"]) == (201, payer, "payer")


async def test_no_default_after_a_unique_amount_a_program_or_several_senders(
        api: TestClient, pool: asyncpg.Pool, merchant: dict[str, str]) -> None:
    exchange = await paid(api, pool, merchant, matched_by="unique_amount")
    program = await paid(api, pool, merchant, via_program=True)
    several = await create(api, merchant)
    half = int(several["amount_due"]) // 2
    await receive(pool, several, half)
    await receive(pool, several, int(several["amount_due"]) - half,
                  sender=str(Keypair().pubkey()))
    before = await snapshot(pool)
    for pay, why in ((exchange, "exchange's shared hot wallet"), (program, "program"),
                     (several, "several senders")):
        status, body = await refund(api, merchant, pay["id"], amount="1000")
        assert status == 422, body
        error = body["error"]
        assert (error["code"], error["param"]) == ("destination_required", "destination")
        assert why in error["message"]
    assert await snapshot(pool) == before

    status, made = await refund(api, merchant, exchange["id"], amount="1000",
                                destination=CUSTOMER)
    assert (status, made["destination"], made["destination_from"]) == (201, CUSTOMER, "given")


# ----- refusals: a clear 4xx, nothing changes --------------------------------------------------

async def test_every_refusal_is_a_clear_4xx_and_changes_nothing(
        api: TestClient, pool: asyncpg.Pool, merchant: dict[str, str]) -> None:
    pay = await paid(api, pool, merchant)
    received = int(pay["amount_due"])
    nothing = await create(api, merchant)
    cancelled = await create(api, merchant)
    assert (await api.post(f"/v1/payments/{cancelled['id']}/cancel", json={},
                           headers=merchant)).status == 200
    detected = await create(api, merchant)
    await receive(pool, detected, 1000)  # underpaid: money seen, not final
    other_headers, _ = await make_store(pool, "othershop")
    others = await paid(api, pool, other_headers)
    status, pending = await refund(api, merchant, pay["id"], amount=str(received - 10))
    assert status == 201
    before = await snapshot(pool)

    cases: list[tuple[str, dict[str, Any], int, str, str | None]] = [
        (pay["id"], {"amount": "11"}, 422, "amount_too_large", "amount"),  # pending counts
        (pay["id"], {"fiat_amount": "1000.00"}, 422, "amount_too_large", "fiat_amount"),
        (pay["id"], {"amount": "1", "asset": "USDC"}, 422, "asset_mismatch", "asset"),
        (pay["id"], {"amount": "1", "destination": "not-an-address"}, 422,
         "destination_invalid", "destination"),
        (pay["id"], {"amount": "1", "destination": "0x" + "ab" * 20}, 422,
         "destination_invalid", "destination"),  # an EVM address for a Solana payment
        (pay["id"], {"amount": "0"}, 422, "parameter_invalid", "amount"),
        (pay["id"], {"amount": "1", "fiat_amount": "1"}, 422, "parameter_invalid", None),
        (nothing["id"], {"amount": "1"}, 409, "payment_not_refundable", None),
        (cancelled["id"], {"amount": "1"}, 409, "payment_not_refundable", None),
        (detected["id"], {"amount": "1"}, 409, "payment_not_refundable", None),
        (others["id"], {"amount": "1"}, 404, "resource_missing", None),
        (str(uuid.uuid4()), {"amount": "1"}, 404, "resource_missing", None),
    ]
    for payment_id, body, want, code, param in cases:
        status, answer = await refund(api, merchant, payment_id, **body)
        assert status == want, (body, answer)
        assert answer["error"]["code"] == code, (body, answer)
        if param is not None:
            assert answer["error"]["param"] == param, (body, answer)
    assert await snapshot(pool) == before
    # what is left can still be refunded, once
    status, _ = await refund(api, merchant, pay["id"], amount="10")
    assert status == 201
    assert pending["status"] == "pending"


async def test_refunds_are_idempotent_with_a_key(
        api: TestClient, pool: asyncpg.Pool, merchant: dict[str, str]) -> None:
    pay = await paid(api, pool, merchant)
    headers = {**merchant, "Idempotency-Key": "refund-1"}
    url = f"/v1/payments/{pay['id']}/refunds"
    first = await api.post(url, json={"amount": "5000"}, headers=headers)
    again = await api.post(url, json={"amount": "5000"}, headers=headers)
    assert (first.status, again.status) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await first.json())["id"] == (await again.json())["id"]
    other = await api.post(url, json={"amount": "6000"}, headers=headers)
    assert other.status == 409
    assert await pool.fetchval("SELECT count(*) FROM refunds") == 1


async def test_a_fiat_refund_at_the_quote_or_the_market_price_says_which(
        api: TestClient, pool: asyncpg.Pool, merchant: dict[str, str]) -> None:
    pay = await paid(api, pool, merchant)
    status, quoted = await refund(api, merchant, pay["id"], fiat_amount="15.00")
    assert status == 201, quoted
    # 15 USD at the quote's 150 USD/SOL is 0.1 SOL
    assert (quoted["amount"], quoted["fiat_amount"], quoted["currency"]) == (
        "100000000", "15.00", "USD")
    assert (quoted["rate"], quoted["price"], quoted["price_source"]) == (
        "quote", "150", "static")
    status, market = await refund(api, merchant, pay["id"], fiat_amount="1.50", rate="market")
    assert status == 201, market
    assert (market["rate"], market["amount"], market["price_source"]) == (
        "market", "10000000", "static")


async def test_list_get_cancel_and_other_stores(
        api: TestClient, pool: asyncpg.Pool, merchant: dict[str, str]) -> None:
    pay = await paid(api, pool, merchant)
    made = [(await refund(api, merchant, pay["id"], amount="1000"))[1] for _ in range(3)]
    page = await (await api.get("/v1/refunds?limit=2", headers=merchant)).json()
    assert [r["id"] for r in page["data"]] == [made[2]["id"], made[1]["id"]]
    assert page["has_more"]
    rest = await (await api.get(f"/v1/refunds?limit=2&cursor={page['next_cursor']}",
                                headers=merchant)).json()
    assert [r["id"] for r in rest["data"]] == [made[0]["id"]]
    assert not rest["has_more"]
    resp = await api.post(f"/v1/refunds/{made[0]['id']}/cancel", json={}, headers=merchant)
    assert resp.status == 200
    cancelled = await (await api.get("/v1/refunds?status=cancelled", headers=merchant)).json()
    assert [r["id"] for r in cancelled["data"]] == [made[0]["id"]]
    one = await (await api.get(f"/v1/refunds/{made[1]['id']}", headers=merchant)).json()
    assert one == made[1]
    other_headers, _ = await make_store(pool, "nosyshop")
    for path in (f"/v1/refunds/{made[1]['id']}", f"/v1/refunds/{made[1]['id']}/qr.svg",
                 "/v1/refunds/not-a-uuid"):
        assert (await api.get(path, headers=other_headers)).status == 404
    assert (await api.post(f"/v1/refunds/{made[1]['id']}/cancel", json={},
                           headers=other_headers)).status == 404
    events = await pool.fetch("SELECT type, data FROM events WHERE type LIKE 'refund.%' "
                              "ORDER BY seq")
    assert [e["type"] for e in events] == ["refund.created"] * 3 + ["refund.cancelled"]
    assert all(e["data"]["object"]["object"] == "refund" for e in events)


def test_webhook_endpoints_can_subscribe_to_refund_events() -> None:
    from api.webhooks import EndpointCreate

    kinds = ["refund.created", "refund.confirmed", "refund.expired", "refund.cancelled",
             "refund.reverted", "order.refunded", "order.partially_refunded",
             "order.refund_reverted"]
    body = EndpointCreate.model_validate({"url": "https://example.com/hook",
                                          "event_types": kinds})
    assert body.event_types == kinds
