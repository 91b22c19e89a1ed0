"""Keyless refunds on simnet, end to end: a payment paid by the customer's wallet, a refund made
through the API, the refund's Solana Pay URL paid FROM the merchant's own wallet (paywatch never
signs), and the real watcher confirming it; the payment's amount_refunded, the order's status
and history, and the events follow."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import base58
import pytest
from aiohttp.test_utils import TestClient

from db import transfers as db_transfers
from paywatch.core.solanapay import parse_transfer_url
from paywatch.services import refunds
from paywatch.services.payments import Change
from paywatch.services.sweeps import expire_refunds
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import make_store
from tests.watcher.harness import Harness, harness, until

ORDER = {"customer": {"email": "ada@example.com"}, "currency": "USD", "shipping": "0",
         "tax": "0", "items": [{"sku": "MUG", "name": "Mug", "quantity": 1, "unit_price": "30"}]}


@pytest.fixture
async def h(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
            wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, api, await make_store(pool, "refundshop"), wallet) as hh:
        yield hh


def merchant_wallet(h: Harness) -> Wallet:
    """The merchant's own wallet: the one that signs refunds (simnet's wallet pays URLs)."""
    return Wallet(h.merchant, h.wallet.client)


async def paid_order(h: Harness, asset: str = "SOL") -> tuple[dict[str, Any], dict[str, Any]]:
    resp = await h.api.post("/v1/orders", headers=h.headers, json=ORDER)
    assert resp.status == 201, await resp.text()
    order = await resp.json()
    pay = await h.create(asset=asset, order_id=order["id"], amount=None, currency=None)
    return order, pay


async def refund(h: Harness, payment_id: str, status: int = 201, **body: Any) -> dict:
    resp = await h.api.post(f"/v1/payments/{payment_id}/refunds", headers=h.headers, json=body)
    assert resp.status == status, await resp.text()
    return dict(await resp.json())


async def refund_row(h: Harness, refund_id: str) -> asyncpg.Record:
    return await h.pool.fetchrow("SELECT * FROM refunds WHERE id = $1", uuid.UUID(refund_id))


async def wait_refund(h: Harness, refund_id: str, status: str) -> asyncpg.Record:
    """Wait (bounded) until the refund reaches `status`."""
    return await h.wait_row("SELECT * FROM refunds WHERE id = $1 AND status = $2",
                            uuid.UUID(refund_id), status)


async def order_of(h: Harness, order_id: str) -> dict:
    resp = await h.api.get(f"/v1/orders/{order_id}", headers=h.headers)
    return dict(await resp.json())


async def event_types(h: Harness, payment_id: str) -> list[str]:
    rows = await h.pool.fetch("SELECT type FROM events WHERE payment_id = $1 ORDER BY seq",
                              uuid.UUID(payment_id))
    return [r["type"] for r in rows]


async def test_a_full_sol_refund_sent_by_the_merchant_wallet_refunds_the_order(
        h: Harness) -> None:
    await h.start_watcher()
    order, pay = await paid_order(h)
    await h.wallet.pay(pay["payment_request"]["url"])
    paid = await h.wait_for(pay["id"], "confirmed")
    received = int(paid["amount_received"])

    made = await refund(h, pay["id"], amount=str(received), reason="returned")
    assert (made["status"], made["destination_from"]) == ("pending", "sender")
    assert made["destination"] == str(h.wallet.pubkey)  # the customer's wallet
    assert made["source"] == str(h.merchant.pubkey())   # the merchant's wallet signs
    assert (made["rate"], made["price"], made["fiat_amount"]) == ("quote", "150", "30.00")
    url = parse_transfer_url(made["refund_request"]["url"])
    assert url.recipient == str(h.wallet.pubkey)
    assert url.references == [made["refund_request"]["reference"]]
    assert made["refund_request"]["reference"] != pay["payment_request"]["reference"]
    qr = await h.api.get(f"/v1/refunds/{made['id']}/qr.svg", headers=h.headers)
    assert qr.status == 200
    assert qr.content_type == "image/svg+xml"

    await merchant_wallet(h).pay(made["refund_request"]["url"])
    await wait_refund(h, made["id"], "confirmed")

    got = await (await h.api.get(f"/v1/refunds/{made['id']}", headers=h.headers)).json()
    assert got["status"] == "confirmed"
    assert got["confirmed_at"]
    [out] = got["transfers"]
    assert (out["amount"], out["sender"], out["payment_id"]) == (
        str(received), str(h.merchant.pubkey()), None)
    row = await h.pool.fetchrow("SELECT * FROM transfers WHERE refund_id = $1",
                                uuid.UUID(made["id"]))
    assert (row["direction"], row["store_id"], row["matched_by"]) == (
        "out", paid["store_id"], "reference")
    # The books: the money that went back is valued at the refund's own rate.
    booked = await h.pool.fetchrow("SELECT * FROM refunds WHERE id = $1", uuid.UUID(made["id"]))
    assert (row["currency"], row["fiat_at_quote"]) == (
        booked["currency"], round(booked["price"] * received / 10**9, 8))
    payment = await (await h.api.get(f"/v1/payments/{pay['id']}", headers=h.headers)).json()
    assert payment["amount_refunded"] == str(received)
    assert payment["status"] == "confirmed"  # a refund is not a payment status
    now = await order_of(h, order["id"])
    assert now["status"] == "refunded"
    assert [(s["from_status"], s["to_status"]) for s in now["status_history"]] == [
        (None, "pending_payment"), ("pending_payment", "paid"), ("paid", "refunded")]
    assert await event_types(h, pay["id"]) == [
        "payment.created", "payment.confirmed", "order.paid", "refund.created",
        "refund.confirmed", "order.refunded"]
    # nothing is left to refund
    error = (await refund(h, pay["id"], 422, amount="1"))["error"]
    assert error["code"] == "amount_too_large"
    # the customer's checkout page says so
    page = await h.api.get(f"/pay/{pay['id']}")
    assert "Refunded in full" in await page.text()


async def test_a_partial_usdc_refund_in_fiat_then_the_rest(h: Harness) -> None:
    await h.start_watcher()
    order, pay = await paid_order(h, "USDC")
    await h.wallet.pay(pay["payment_request"]["url"])
    await h.wait_for(pay["id"], "confirmed")

    part = await refund(h, pay["id"], fiat_amount="10.00", rate="quote")
    assert (part["amount"], part["asset"], part["mint"]) == ("10000000", "USDC", h.mint)
    await merchant_wallet(h).pay(part["refund_request"]["url"])
    await wait_refund(h, part["id"], "confirmed")
    assert (await order_of(h, order["id"]))["status"] == "partially_refunded"
    assert (await h.payment(pay["id"]))["amount_refunded"] == 10_000_000

    rest = await refund(h, pay["id"], amount="20000000")
    await merchant_wallet(h).pay(rest["refund_request"]["url"])
    await wait_refund(h, rest["id"], "confirmed")
    history = (await order_of(h, order["id"]))["status_history"]
    assert [(s["from_status"], s["to_status"]) for s in history][-2:] == [
        ("paid", "partially_refunded"), ("partially_refunded", "refunded")]
    listed = await (await h.api.get(f"/v1/refunds?payment_id={pay['id']}",
                                    headers=h.headers)).json()
    assert [r["id"] for r in listed["data"]] == [rest["id"], part["id"]]


async def test_an_overpayment_refund_gives_back_the_excess(h: Harness) -> None:
    from paywatch.core.solanapay import build_transfer_url

    await h.start_watcher()
    order, pay = await paid_order(h)
    due = int(pay["amount_due"])
    await h.wallet.pay(build_transfer_url(
        recipient=str(h.merchant.pubkey()), amount_base_units=due + 5_000_000, decimals=9,
        spl_token=None, references=[pay["payment_request"]["reference"]]))
    paid = await h.wait_for(pay["id"], "confirmed")
    assert paid["exception"] == "overpaid"

    excess = await refund(h, pay["id"], amount=str(int(paid["amount_received"]) - due),
                          reason="overpaid")
    await merchant_wallet(h).pay(excess["refund_request"]["url"])
    await wait_refund(h, excess["id"], "confirmed")
    assert (await h.payment(pay["id"]))["amount_refunded"] == 5_000_000
    assert (await order_of(h, order["id"]))["status"] == "partially_refunded"


async def test_a_refund_nobody_sends_expires_and_one_can_be_cancelled(h: Harness) -> None:
    await h.start_watcher()
    _order, pay = await paid_order(h)
    await h.wallet.pay(pay["payment_request"]["url"])
    paid = await h.wait_for(pay["id"], "confirmed")
    half = str(int(paid["amount_received"]) // 2)

    first = await refund(h, pay["id"], amount=half)
    second = await refund(h, pay["id"], amount=half)
    # both pending hold what was received: nothing more may be asked meanwhile
    assert (await refund(h, pay["id"], 422, amount="2"))["error"]["code"] == "amount_too_large"

    # the clock: the first refund's lifetime is over (moved in the table, not by waiting)
    await h.pool.execute("UPDATE refunds SET created_at = now() - interval '2 days', "
                         "expires_at = now() - interval '1 day' WHERE id = $1",
                         uuid.UUID(first["id"]))
    assert await expire_refunds(h.pool) == 1
    assert (await refund_row(h, first["id"]))["status"] == "expired"

    resp = await h.api.post(f"/v1/refunds/{second['id']}/cancel", headers=h.headers,
                            json={"reason": "customer kept it"})
    assert resp.status == 200
    assert (await resp.json())["status"] == "cancelled"
    again = await h.api.post(f"/v1/refunds/{second['id']}/cancel", headers=h.headers, json={})
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "refund_not_cancellable"
    assert (await h.api.post(f"/v1/refunds/{first['id']}/cancel", headers=h.headers,
                             json={})).status == 409
    # the watcher forgot both: a late send of either confirms nothing
    watcher = h.watcher
    assert watcher is not None
    await until(lambda: not watcher.index.refunds, "the index dropped both refunds")
    assert await event_types(h, pay["id"]) == [
        "payment.created", "payment.confirmed", "order.paid", "refund.created",
        "refund.created", "refund.expired", "refund.cancelled"]
    assert (await h.payment(pay["id"]))["amount_refunded"] == 0
    # and the whole amount is available again
    await refund(h, pay["id"], amount=str(paid["amount_received"]))


async def test_a_reverted_refund_transfer_reopens_the_refund_and_steps_the_order_back(
        h: Harness) -> None:
    await h.start_watcher()
    order, pay = await paid_order(h)
    await h.wallet.pay(pay["payment_request"]["url"])
    paid = await h.wait_for(pay["id"], "confirmed")
    made = await refund(h, pay["id"], amount=str(paid["amount_received"]))
    await h.stop_watcher()

    # A transaction the chain will never confirm (a dead fork), recorded as the refund's.
    ghost = base58.b58encode(bytes(range(64))).decode()
    refund_id = uuid.UUID(made["id"])
    async with h.pool.acquire() as conn, conn.transaction():
        await db_transfers.insert_transfer(conn, {
            "chain": "solana", "tx_id": ghost, "index": 0, "payment_id": None,
            "asset": "SOL", "sender": str(h.merchant.pubkey()), "recipient": made["destination"],
            "amount": int(made["amount"]), "status": "confirmed", "store_id": paid["store_id"],
            "direction": "out", "refund_id": refund_id, "matched_by": "reference"})
        assert await refunds.resettle(conn, refund_id, Change("test", None)) == "confirmed"
    assert (await order_of(h, order["id"]))["status"] == "refunded"
    await h.pool.execute("UPDATE transfers SET seen_at = now() - interval '1 hour' "
                         "WHERE tx_id = $1", ghost)

    await h.start_watcher()  # its tracker finds the transaction gone and reverts it
    row = await wait_refund(h, made["id"], "pending")
    assert row["confirmed_at"] is None
    assert (await h.payment(pay["id"]))["amount_refunded"] == 0
    now = await order_of(h, order["id"])
    assert now["status"] == "paid"
    assert [(s["from_status"], s["to_status"]) for s in now["status_history"]][-2:] == [
        ("paid", "refunded"), ("refunded", "paid")]
    assert (await event_types(h, pay["id"]))[-3:] == [
        "order.refunded", "refund.reverted", "order.refund_reverted"]
