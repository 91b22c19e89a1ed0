"""The store's inbox: unmatched transfers listed, filtered and paged per store; assigned to a
payment (which settles by the normal rules, audited, with events) or dismissed with a reason;
every bad input answered with a clear 4xx that changes nothing; repeats are idempotent."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from db import transfers as db_transfers
from paywatch.services import transfers
from tests.conftest import RECIPIENT, USDC_MINT, api_client, make_store

_TX = itertools.count(1)


async def unmatched(pool: asyncpg.Pool, store_id: Any, amount: int, *, asset: str = "SOL",
                    mint: str | None = None, chain: str = "solana", status: str = "confirmed",
                    reason: str = "no reference of ours", tx_id: str | None = None) -> int:
    """An inbox entry recorded the way a watcher records one."""
    tx_id = tx_id or f"tx{next(_TX):060d}"
    async with pool.acquire() as conn, conn.transaction():
        assert await transfers.record(conn, {
            "chain": chain, "tx_id": tx_id, "index": 0, "store_id": store_id, "asset": asset,
            "mint": mint, "sender": "Sender1111111111111111111111111111111111111",
            "recipient": RECIPIENT, "amount": amount, "slot": 1000, "status": status,
            "unmatched_reason": reason})
    return int(await pool.fetchval("SELECT id FROM transfers WHERE chain = $1 AND tx_id = $2",
                                   chain, tx_id))


async def pay(api: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await api.post("/v1/payments", headers=headers, json={
        "amount": "30.00", "currency": "USD", "asset": "SOL", **body})
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def state(pool: asyncpg.Pool, transfer_id: int, payment_id: str | None = None) -> tuple:
    """Everything an assign or dismiss may change: the transfer, the payment, events, audit."""
    transfer = dict(await pool.fetchrow("SELECT * FROM transfers WHERE id = $1", transfer_id))
    payment = None
    if payment_id is not None:
        row = await pool.fetchrow("SELECT * FROM payments WHERE id = $1", uuid.UUID(payment_id))
        payment = dict(row) if row else None
    counts = await pool.fetchrow("SELECT (SELECT count(*) FROM events) AS events, "
                                 "(SELECT count(*) FROM audit_log) AS audit, "
                                 "(SELECT count(*) FROM orders WHERE status = 'paid') AS paid")
    return transfer, payment, dict(counts)


async def event_types(pool: asyncpg.Pool, store_id: Any) -> list[str]:
    rows = await pool.fetch("SELECT type FROM events WHERE store_id = $1 ORDER BY seq", store_id)
    return [r["type"] for r in rows]


@pytest.fixture
async def shop(pool: asyncpg.Pool) -> tuple[dict[str, str], Any]:
    headers, store = await make_store(pool, "inbox-shop")
    return headers, store["id"]


# ----- listing -------------------------------------------------------------------------------

async def test_the_inbox_lists_open_entries_per_store_with_filters_and_pages(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any]) -> None:
    headers, store_id = shop
    other_headers, other = await make_store(pool, "elsewhere")
    sol = [await unmatched(pool, store_id, 1000 + n) for n in range(3)]
    usdc = await unmatched(pool, store_id, 5_000_000, asset="USDC", mint=USDC_MINT)
    evm = await unmatched(pool, store_id, 7, asset="ETH", chain="anvil")
    gone = await unmatched(pool, store_id, 9)
    async with pool.acquire() as conn:
        tx_id = await conn.fetchval("SELECT tx_id FROM transfers WHERE id = $1", gone)
        await db_transfers.revert(conn, "solana", tx_id)  # a reorg: it moved no money
    theirs = await unmatched(pool, other["id"], 1)

    async def ids(query: str, who: dict[str, str] = headers) -> list[int]:
        resp = await api.get(f"/v1/transfers/unmatched{query}", headers=who)
        assert resp.status == 200, await resp.text()
        return [int(t["id"]) for t in (await resp.json())["data"]]

    assert await ids("") == [evm, usdc, *reversed(sol)]  # newest first; the reverted one left
    assert await ids("?state=all") == [gone, evm, usdc, *reversed(sol)]
    assert await ids("?chain=anvil") == [evm]
    assert await ids("?asset=usdc&chain=solana") == [usdc]
    assert await ids("?state=dismissed") == []
    assert await ids("", other_headers) == [theirs]

    resp = await api.get("/v1/transfers/unmatched?limit=2", headers=headers)
    first = await resp.json()
    assert [int(t["id"]) for t in first["data"]] == [evm, usdc]
    assert first["has_more"] is True
    assert await ids(f"?limit=2&cursor={first['next_cursor']}") == [sol[2], sol[1]]

    entry = next(t for t in first["data"] if int(t["id"]) == usdc)
    assert entry == {**entry, "object": "transfer", "payment_id": None, "chain": "solana",
                     "asset": "USDC", "mint": USDC_MINT, "amount": "5000000",
                     "status": "confirmed", "unmatched_reason": "no reference of ours",
                     "matched_by": None, "via_program": False, "resolution": None,
                     "resolved_at": None, "resolved_by": None, "resolution_note": None}

    for bad in ("?state=closed", "?chain=Not%20a%20chain", "?asset=US-DC", "?cursor=abc",
                "?limit=0", "?limit=101", "?cursor=9999999999999999999", "?what=1"):
        resp = await api.get(f"/v1/transfers/unmatched{bad}", headers=headers)
        assert resp.status == 422, (bad, await resp.text())
        assert (await resp.json())["error"]["type"] == "invalid_request_error"


async def test_one_transfer_is_read_by_its_store_only(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any]) -> None:
    headers, store_id = shop
    other_headers, _other = await make_store(pool, "elsewhere")
    entry = await unmatched(pool, store_id, 1234)
    resp = await api.get(f"/v1/transfers/{entry}", headers=headers)
    assert resp.status == 200
    assert (await resp.json())["amount"] == "1234"
    resp = await api.get(f"/v1/transfers/{entry}", headers=other_headers)
    assert resp.status == 404  # another store's transfer is missing, not forbidden
    assert (await resp.json())["error"]["code"] == "resource_missing"
    for raw in ("abc", "-1", "1e3", "9" * 19, "0x10", "%F0%9F%92%B0", str(entry + 1000)):
        resp = await api.get(f"/v1/transfers/{raw}", headers=headers)
        assert resp.status == 404, raw


# ----- assign --------------------------------------------------------------------------------

async def test_assigning_settles_the_payment_pays_the_order_and_is_audited(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any]) -> None:
    headers, store_id = shop
    resp = await api.post("/v1/orders", headers=headers, json={
        "customer": {"email": "ada@example.com", "name": "Ada"},
        "items": [{"sku": "MUG-1", "name": "Mug", "quantity": 2, "unit_price": "12.50"}],
        "currency": "USD", "shipping": "5.00"})
    order = await resp.json()
    assert resp.status == 201, order
    payment = await pay(api, headers, order_id=order["id"], amount=None, currency=None)
    entry = await unmatched(pool, store_id, int(payment["amount_due"]),
                            reason="no reference of ours (an exchange withdrawal)")

    resp = await api.post(f"/v1/transfers/{entry}/assign", headers=headers,
                          json={"payment_id": payment["id"], "note": "customer's email"})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["payment_id"] == payment["id"]
    assert (body["matched_by"], body["resolution"]) == ("assigned", "assigned")
    assert body["resolution_note"] == "customer's email"
    assert body["resolved_by"].startswith("key:")
    assert body["resolved_at"] is not None
    assert body["unmatched_reason"] == "no reference of ours (an exchange withdrawal)"

    resp = await api.get(f"/v1/payments/{payment['id']}", headers=headers)
    shown = await resp.json()
    assert (shown["status"], shown["amount_received"]) == ("confirmed", payment["amount_due"])
    assert [t["id"] for t in shown["transfers"]] == [str(entry)]
    assert shown["transfers"][0]["matched_by"] == "assigned"
    resp = await api.get(f"/v1/orders/{order['id']}", headers=headers)
    assert (await resp.json())["status"] == "paid"

    assert await event_types(pool, store_id) == [
        "order.created", "payment.created", "transfer.unmatched", "transfer.assigned",
        "payment.confirmed", "order.paid"]
    assigned = await pool.fetchrow(
        "SELECT payment_id, data FROM events WHERE type = 'transfer.assigned'")
    assert str(assigned["payment_id"]) == payment["id"]
    assert assigned["data"]["object"] == body
    confirmed = await pool.fetchval("SELECT data FROM events WHERE type = 'payment.confirmed'")
    assert confirmed["reason"] == "customer's email"
    audit = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'transfer.assign'")
    assert (audit["object_type"], audit["object_id"]) == ("transfer", str(entry))
    assert audit["actor"] == body["resolved_by"]
    assert audit["before"]["resolution"] is None
    assert audit["after"] == {**audit["after"], "payment_id": payment["id"],
                              "resolution": "assigned", "payment_status": "pending"}

    resp = await api.get("/v1/transfers/unmatched", headers=headers)
    assert (await resp.json())["data"] == []  # no longer open
    resp = await api.get("/v1/transfers/unmatched?state=assigned", headers=headers)
    assert [t["id"] for t in (await resp.json())["data"]] == [str(entry)]


async def test_a_short_or_late_assignment_follows_the_normal_rules(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any]) -> None:
    headers, store_id = shop
    short = await pay(api, headers)
    entry = await unmatched(pool, store_id, int(short["amount_due"]) // 2, status="processed")
    resp = await api.post(f"/v1/transfers/{entry}/assign", headers=headers,
                          json={"payment_id": short["id"]})
    assert resp.status == 200, await resp.text()
    row = await pool.fetchrow("SELECT status, exception FROM payments WHERE id = $1",
                              uuid.UUID(short["id"]))
    assert (row["status"], row["exception"]) == ("detected", "underpaid")

    late = await pay(api, headers)
    await pool.execute("UPDATE payments SET status = 'expired', closed_at = now(), "
                       "created_at = now() - interval '2 hours', "
                       "expires_at = now() - interval '1 hour' WHERE id = $1",
                       uuid.UUID(late["id"]))
    entry = await unmatched(pool, store_id, int(late["amount_due"]))
    resp = await api.post(f"/v1/transfers/{entry}/assign", headers=headers,
                          json={"payment_id": late["id"]})
    assert resp.status == 200, await resp.text()
    row = await pool.fetchrow("SELECT status, exception FROM payments WHERE id = $1",
                              uuid.UUID(late["id"]))
    assert (row["status"], row["exception"]) == ("expired", "paid_late")
    assert (await event_types(pool, store_id))[-2:] == ["transfer.assigned", "payment.paid_late"]


async def test_repeating_an_assign_answers_the_same_and_changes_nothing(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any]) -> None:
    headers, store_id = shop
    payment = await pay(api, headers)
    entry = await unmatched(pool, store_id, int(payment["amount_due"]))
    url, body = f"/v1/transfers/{entry}/assign", {"payment_id": payment["id"]}
    # Two at once (a double click): one assigns, the other waits for it and sees it done.
    answers = await asyncio.gather(*(api.post(url, headers=headers, json=body)
                                     for _ in range(2)))
    assert [a.status for a in answers] == [200, 200]
    first, second = [await a.json() for a in answers]
    assert first == second
    before = await state(pool, entry, payment["id"])
    again = await api.post(url, headers=headers, json=body)  # later, the payment now paid
    assert again.status == 200
    assert await again.json() == first
    assert await state(pool, entry, payment["id"]) == before
    types = await event_types(pool, store_id)
    assert (types.count("transfer.assigned"), types.count("payment.confirmed")) == (1, 1)
    audits = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'transfer.assign'")
    assert audits == 1

    # With an Idempotency-Key, the API's replay: the stored answer, marked as replayed.
    other = await unmatched(pool, store_id, 5)
    keyed = {**headers, "Idempotency-Key": "dismiss-5"}
    url = f"/v1/transfers/{other}/dismiss"
    first_resp = await api.post(url, headers=keyed, json={"reason": "my own top-up"})
    replay = await api.post(url, headers=keyed, json={"reason": "my own top-up"})
    assert (first_resp.status, replay.status) == (200, 200)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert await replay.json() == await first_resp.json()
    reused = await api.post(url, headers=keyed, json={"reason": "something else"})
    assert reused.status == 409
    assert (await reused.json())["error"]["code"] == "idempotency_key_reused"


# ----- dismiss -------------------------------------------------------------------------------

async def test_dismissing_keeps_the_reason_and_leaves_the_inbox(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any]) -> None:
    headers, store_id = shop
    entry = await unmatched(pool, store_id, 4242)
    url = f"/v1/transfers/{entry}/dismiss"
    resp = await api.post(url, headers=headers, json={"reason": "  the owner's own top-up "})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["resolution"], body["resolution_note"]) == ("dismissed", "the owner's own top-up")
    assert (body["payment_id"], body["matched_by"]) == (None, None)
    before = await state(pool, entry)
    resp = await api.post(url, headers=headers, json={"reason": "the owner's own top-up"})
    assert (resp.status, await resp.json()) == (200, body)  # the same dismissal: the same answer
    assert await state(pool, entry) == before
    resp = await api.post(url, headers=headers, json={"reason": "a test"})
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "transfer_dismissed"
    assert await state(pool, entry) == before

    assert (await event_types(pool, store_id)).count("transfer.dismissed") == 1
    event = await pool.fetchval("SELECT data FROM events WHERE type = 'transfer.dismissed'")
    assert event["object"] == body
    audit = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'transfer.dismiss'")
    assert (audit["object_id"], audit["actor"]) == (str(entry), body["resolved_by"])
    assert audit["after"]["note"] == "the owner's own top-up"
    resp = await api.get("/v1/transfers/unmatched", headers=headers)
    assert (await resp.json())["data"] == []
    resp = await api.get("/v1/transfers/unmatched?state=dismissed", headers=headers)
    assert [t["id"] for t in (await resp.json())["data"]] == [str(entry)]


# ----- bad input: a clear 4xx, and nothing changes --------------------------------------------

BadCase = tuple[str, int, str]  # (what, status, error code)


async def _bad_setup(api: TestClient, pool: asyncpg.Pool, headers: dict[str, str],
                     store_id: Any, what: str) -> tuple[str, Any, str | None]:
    """(url, body, payment id) for one bad request of kind `what`."""
    payment = await pay(api, headers)
    due, pid = int(payment["amount_due"]), payment["id"]
    entry = await unmatched(pool, store_id, due)
    assign = f"/v1/transfers/{entry}/assign"
    body: Any = {"payment_id": pid}
    if what == "wrong asset":
        entry = await unmatched(pool, store_id, due, asset="USDC", mint=USDC_MINT)
        assign = f"/v1/transfers/{entry}/assign"
    elif what == "wrong chain":
        entry = await unmatched(pool, store_id, due, chain="anvil")
        assign = f"/v1/transfers/{entry}/assign"
    elif what == "already assigned":
        other = await pay(api, headers)
        resp = await api.post(assign, headers=headers, json={"payment_id": other["id"]})
        assert resp.status == 200
    elif what == "dismissed":
        resp = await api.post(f"/v1/transfers/{entry}/dismiss", headers=headers,
                              json={"reason": "not ours"})
        assert resp.status == 200
    elif what == "reverted":
        tx_id = await pool.fetchval("SELECT tx_id FROM transfers WHERE id = $1", entry)
        async with pool.acquire() as conn:
            await db_transfers.revert(conn, "solana", tx_id)
    elif what == "paid payment":
        resp = await api.post(f"/v1/payments/{pid}/settle", headers=headers,
                              json={"reason": "paid by card"})
        assert resp.status == 200
    elif what == "cancelled payment":
        resp = await api.post(f"/v1/payments/{pid}/cancel", headers=headers, json={})
        assert resp.status == 200
    elif what == "invalid payment":
        await pool.execute("UPDATE payments SET status = 'invalid', closed_at = now() "
                           "WHERE id = $1", uuid.UUID(pid))
    elif what == "another store's transfer":
        _h, other_store = await make_store(pool, "elsewhere")
        assign = f"/v1/transfers/{await unmatched(pool, other_store['id'], due)}/assign"
    elif what == "another store's payment":
        other_headers, _s = await make_store(pool, "elsewhere")
        body = {"payment_id": (await pay(api, other_headers))["id"]}
    elif what == "unknown payment":
        body = {"payment_id": str(uuid.uuid4())}
    elif what == "unknown transfer":
        assign = f"/v1/transfers/{entry + 1000}/assign"
    elif what == "malformed transfer id":
        assign = f"/v1/transfers/{entry}x/assign"
    elif what == "malformed payment id":
        body = {"payment_id": "pay_123"}
    elif what == "missing payment id":
        body = {}
    elif what == "unknown field":
        body = {"payment_id": pid, "amount": "1"}
    elif what == "payment id as a number":
        body = {"payment_id": 12}
    elif what == "not JSON":
        body = "payment_id=" + pid
    elif what == "a form body":
        body = ("form", "payment_id=" + pid)
    elif what == "a JSON list":
        body = [pid]
    elif what == "missing reason":
        assign, body = f"/v1/transfers/{entry}/dismiss", {}
    elif what == "blank reason":
        assign, body = f"/v1/transfers/{entry}/dismiss", {"reason": "   "}
    elif what == "long reason":
        assign, body = f"/v1/transfers/{entry}/dismiss", {"reason": "x" * 501}
    elif what == "a matched transfer":  # it pays its payment: nothing for the inbox
        async with pool.acquire() as conn, conn.transaction():
            await transfers.record(conn, {
                "chain": "solana", "tx_id": "matched-tx", "index": 0, "payment_id":
                uuid.UUID(pid), "asset": "SOL", "recipient": RECIPIENT, "amount": due,
                "status": "confirmed", "matched_by": "reference"})
        matched = await pool.fetchval("SELECT id FROM transfers WHERE tx_id = 'matched-tx'")
        assign = f"/v1/transfers/{matched}/assign"
    return assign, body, pid


BAD = [
    ("wrong asset", 422, "asset_mismatch"),
    ("wrong chain", 422, "chain_mismatch"),
    ("already assigned", 409, "transfer_already_assigned"),
    ("dismissed", 409, "transfer_dismissed"),
    ("reverted", 409, "transfer_reverted"),
    ("paid payment", 409, "payment_already_paid"),
    ("cancelled payment", 409, "payment_cancelled"),
    ("invalid payment", 409, "payment_closed"),
    ("another store's transfer", 404, "resource_missing"),
    ("another store's payment", 404, "resource_missing"),
    ("unknown payment", 404, "resource_missing"),
    ("unknown transfer", 404, "resource_missing"),
    ("malformed transfer id", 404, "resource_missing"),
    ("malformed payment id", 422, "parameter_invalid"),
    ("missing payment id", 422, "parameter_missing"),
    ("unknown field", 422, "parameter_unknown"),
    ("payment id as a number", 422, "parameter_invalid"),
    ("not JSON", 400, "invalid_json"),
    ("a JSON list", 400, "invalid_json"),
    ("missing reason", 422, "parameter_missing"),
    ("blank reason", 422, "parameter_invalid"),
    ("long reason", 422, "parameter_invalid"),
    ("a matched transfer", 409, "transfer_not_in_inbox"),
    ("a form body", 415, "unsupported_media_type"),
]


@pytest.mark.parametrize(("what", "status", "code"), BAD, ids=[b[0] for b in BAD])
async def test_bad_input_is_a_clear_4xx_and_changes_nothing(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any], what: str,
        status: int, code: str) -> None:
    headers, store_id = shop
    url, body, pid = await _bad_setup(api, pool, headers, store_id, what)
    entries = [int(r["id"]) for r in await pool.fetch("SELECT id FROM transfers ORDER BY id")]
    before = [await state(pool, e, pid) for e in entries]
    if isinstance(body, tuple):
        resp = await api.post(url, headers={
            **headers, "Content-Type": "application/x-www-form-urlencoded"}, data=body[1])
    elif isinstance(body, str):
        resp = await api.post(url, headers={**headers, "Content-Type": "application/json"},
                              data=body)
    else:
        resp = await api.post(url, headers=headers, json=body)
    assert resp.status == status, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == code, error
    assert error["message"]
    assert [await state(pool, e, pid) for e in entries] == before


# ----- scopes, events, metrics ---------------------------------------------------------------

async def test_reading_needs_payments_read_and_acting_payments_write(
        api: TestClient, pool: asyncpg.Pool) -> None:
    reader, store = await make_store(pool, "reader", scopes=["payments:read"])
    entry = await unmatched(pool, store["id"], 77)
    resp = await api.get(f"/v1/transfers/{entry}", headers=reader)
    assert resp.status == 200
    for action, body in (("assign", {"payment_id": str(uuid.uuid4())}),
                         ("dismiss", {"reason": "mine"})):
        resp = await api.post(f"/v1/transfers/{entry}/{action}", headers=reader, json=body)
        assert resp.status == 403, action
        assert (await resp.json())["error"]["code"] == "missing_scope"
    orders_only, _s = await make_store(pool, "orders-only", scopes=["orders:read"])
    resp = await api.get("/v1/transfers/unmatched", headers=orders_only)
    assert resp.status == 403
    row = await pool.fetchrow("SELECT resolution, payment_id FROM transfers WHERE id = $1", entry)
    assert tuple(row) == (None, None)


def _unmatched_count(chain: str) -> float:
    return REGISTRY.get_sample_value("paywatch_transfers_unmatched_total",
                                     {"chain": chain}) or 0.0


async def test_transfer_unmatched_is_announced_once_per_transfer(
        pool: asyncpg.Pool, shop: tuple[dict[str, str], Any]) -> None:
    _headers, store_id = shop
    counted = _unmatched_count("solana")
    entry = await unmatched(pool, store_id, 500, tx_id="seen-twice")
    async with pool.acquire() as conn, conn.transaction():  # the watcher sees it again
        assert not await transfers.record(conn, {
            "chain": "solana", "tx_id": "seen-twice", "index": 0, "store_id": store_id,
            "asset": "SOL", "recipient": RECIPIENT, "amount": 500, "status": "confirmed",
            "unmatched_reason": "no reference of ours"})
    async with pool.acquire() as conn:
        await db_transfers.revert(conn, "solana", "seen-twice")  # a dead fork, then included
        assert await transfers.record(conn, {
            "chain": "solana", "tx_id": "seen-twice", "index": 0, "store_id": store_id,
            "asset": "SOL", "recipient": RECIPIENT, "amount": 500, "status": "processed",
            "unmatched_reason": "no reference of ours"})
    assert await pool.fetchval("SELECT status FROM transfers WHERE id = $1", entry) == \
        "processed"  # open again: back in the inbox
    events = await pool.fetch("SELECT data FROM events WHERE type = 'transfer.unmatched'")
    assert [e["data"]["object"]["id"] for e in events] == [str(entry)]
    assert events[0]["data"]["object"]["unmatched_reason"] == "no reference of ours"
    assert _unmatched_count("solana") == counted + 1


async def test_the_open_inbox_gauge_follows_the_database(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any]) -> None:
    headers, store_id = shop

    def gauge(chain: str) -> float | None:
        return REGISTRY.get_sample_value("paywatch_inbox_open_transfers", {"chain": chain})

    first = await unmatched(pool, store_id, 1, chain="gauge-a")
    await unmatched(pool, store_id, 2, chain="gauge-a")
    await unmatched(pool, store_id, 3, chain="gauge-b")
    assert await transfers.refresh_inbox_gauge(pool) == 3
    assert (gauge("gauge-a"), gauge("gauge-b")) == (2, 1)
    resp = await api.post(f"/v1/transfers/{first}/dismiss", headers=headers,
                          json={"reason": "test"})
    assert resp.status == 200
    async with pool.acquire() as conn:
        tx_id = await conn.fetchval("SELECT tx_id FROM transfers WHERE chain = 'gauge-b'")
        await db_transfers.revert(conn, "gauge-b", tx_id)
    assert await transfers.refresh_inbox_gauge(pool) == 1
    assert (gauge("gauge-a"), gauge("gauge-b")) == (1, 0)  # an emptied chain reads 0


async def test_webhook_endpoints_can_subscribe_to_transfer_events(
        pool: asyncpg.Pool, shop: tuple[dict[str, str], Any]) -> None:
    headers, _store_id = shop
    types = ["transfer.unmatched", "transfer.assigned", "transfer.dismissed"]
    async with api_client(pool, webhook_allow_private=True) as api:
        resp = await api.post("/v1/webhook_endpoints", headers=headers, json={
            "url": "http://127.0.0.1:9999/hooks", "event_types": types})
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["event_types"] == types
