"""Orders and customers: creation with server totals, numbers under concurrency, reads,
pagination, cancel and fulfilment transitions, isolation, idempotency, bad input."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.models.orders import OrderStatus
from paywatch.core.states import ORDER_STATUSES
from tests.conftest import RECIPIENT, make_store

ORDER: dict[str, Any] = {
    "customer": {"email": "Ada@Example.com", "name": "Ada Lovelace"},
    "items": [{"sku": "MUG-1", "name": "Mug", "quantity": 2, "unit_price": "12.5"},
              {"sku": "TEE-M", "name": "T-shirt", "quantity": 1, "unit_price": "20"}],
    "currency": "USD", "shipping": "5.00", "tax": "3.60",
    "shipping_address": {"name": "Ada Lovelace", "line1": "12 St James's Sq",
                         "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"},
    "metadata": {"cart": "c_123"},
}
ITEM = {"sku": "A", "name": "A", "quantity": 1, "unit_price": "1"}


async def create(api: TestClient, headers: dict[str, str], **patch: object) -> dict[str, Any]:
    resp = await api.post("/v1/orders", json={**ORDER, **patch}, headers=headers)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def mark_paid(pool: asyncpg.Pool, order: dict[str, Any]) -> None:
    await pool.execute("UPDATE orders SET status = 'paid', paid_at = now() WHERE id = $1",
                       uuid.UUID(order["id"]))


async def event_types(pool: asyncpg.Pool) -> list[str]:
    return [r["type"] for r in await pool.fetch("SELECT type FROM events ORDER BY seq")]


async def error_of(resp: Any) -> dict[str, Any]:
    body = await resp.json()
    assert set(body["error"]) == {"type", "code", "message", "param"}
    return dict(body["error"])


def test_order_statuses_match_the_domain() -> None:
    assert get_args(OrderStatus) == ORDER_STATUSES


# ----- create -----

async def test_create_computes_totals_numbers_history_event_and_audit(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    order = await create(api, merchant, subtotal="45", total="53.60")
    assert order["object"] == "order"
    assert order["status"] == "pending_payment"
    # The number carries the UTC day the order was created on, and counts from 1 per store.
    day = datetime.fromisoformat(order["created_at"]).astimezone(UTC)
    assert order["number"] == f"ORD-{day:%Y%m%d}-0001"
    assert (order["subtotal"], order["shipping"], order["tax"], order["total"]) == (
        "45.00", "5.00", "3.60", "53.60")
    assert [(i["unit_price"], i["total"]) for i in order["items"]] == [
        ("12.50", "25.00"), ("20.00", "20.00")]
    assert order["customer"] == {"email": "Ada@example.com", "name": "Ada Lovelace",
                                 "wallet": None}  # the domain is normalised, not the local part
    assert order["shipping_address"]["country"] == "GB"
    assert order["shipping_address"]["line2"] is None
    assert order["metadata"] == {"cart": "c_123"}
    assert [(h["from_status"], h["to_status"]) for h in order["status_history"]] == [
        (None, "pending_payment")]

    history = await pool.fetch("SELECT from_status, to_status, actor FROM order_status_history")
    assert [(h["from_status"], h["to_status"]) for h in history] == [(None, "pending_payment")]
    assert history[0]["actor"].startswith("key:")
    audit = await pool.fetchrow("SELECT actor, object_id, after FROM audit_log "
                                "WHERE action = 'order.create'")
    assert (audit["actor"], audit["object_id"]) == (history[0]["actor"], order["id"])
    assert audit["after"]["number"] == order["number"]
    event = await pool.fetchrow("SELECT type, order_id, data FROM events")
    assert (event["type"], str(event["order_id"])) == ("order.created", order["id"])
    assert event["data"]["object"]["total"] == "53.60"


async def test_a_customer_is_one_row_per_store_and_address(
        api: TestClient, merchant: dict[str, str], other_merchant: dict[str, str],
        pool: asyncpg.Pool) -> None:
    first = await create(api, merchant)
    second = await create(api, merchant, customer={"email": "ADA@example.COM",
                                                   "wallet": RECIPIENT})
    await create(api, other_merchant)
    assert await pool.fetchval("SELECT count(*) FROM customers") == 2  # one per store
    # The first spelling stays; a name not sent is kept; the new wallet is recorded.
    assert second["customer"]["email"] == first["customer"]["email"]
    assert second["customer"]["name"] == "Ada Lovelace"
    assert second["customer"]["wallet"] == RECIPIENT
    assert second["number"].endswith("-0002")


async def test_client_totals_must_match(api: TestClient, merchant: dict[str, str],
                                        pool: asyncpg.Pool) -> None:
    for field, value in (("total", "53.59"), ("subtotal", "46"), ("total", "45.00")):
        resp = await api.post("/v1/orders", json={**ORDER, field: value}, headers=merchant)
        assert resp.status == 422
        error = await error_of(resp)
        assert (error["code"], error["param"]) == ("total_mismatch", field)
        assert field in error["message"]
    assert await pool.fetchval("SELECT count(*) FROM orders") == 0


async def test_prices_must_fit_the_currency_minor_units(api: TestClient,
                                                        merchant: dict[str, str]) -> None:
    for patch, param in (
            ({"items": [{**ITEM, "unit_price": "0.001"}]}, "items.0.unit_price"),
            ({"currency": "JPY", "shipping": "0", "tax": "0",
              "items": [ITEM, {**ITEM, "unit_price": "1.5"}]}, "items.1.unit_price"),
            ({"shipping": "0.005"}, "shipping"),
            ({"tax": "0.125"}, "tax")):
        resp = await api.post("/v1/orders", json={**ORDER, **patch}, headers=merchant)
        assert resp.status == 422, patch
        assert (await error_of(resp))["param"] == param
    yen = await create(api, merchant, currency="JPY", shipping="500", tax="0",
                       items=[{**ITEM, "unit_price": "1500", "quantity": 3}])
    assert (yen["currency"], yen["subtotal"], yen["total"]) == ("JPY", "4500", "5000")
    dinar = await create(api, merchant, currency="kwd", shipping="0", tax="0.125",
                         items=[{**ITEM, "unit_price": "1.005"}])
    assert (dinar["currency"], dinar["total"]) == ("KWD", "1.130")


async def test_order_numbers_are_unique_under_concurrency(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    answers = await asyncio.gather(*(api.post("/v1/orders", json=ORDER, headers=merchant)
                                     for _ in range(20)))
    assert [r.status for r in answers] == [201] * 20
    numbers = [(await r.json())["number"] for r in answers]
    assert sorted(int(n[-4:]) for n in numbers) == list(range(1, 21))
    assert await pool.fetchval("SELECT last FROM order_number_counters") == 20


async def test_every_order_event_carries_the_order_as_the_api_shows_it(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    """data.object is GET /v1/orders/{id} at that moment, whichever path emitted the event
    (the API, or a payment settled into the order); event-specific fields sit beside it."""
    async def latest(type_: str) -> Any:
        return await pool.fetchval("SELECT data FROM events WHERE type = $1 "
                                   "ORDER BY seq DESC LIMIT 1", type_)

    async def shown(order: dict[str, Any]) -> Any:
        return await (await api.get(f"/v1/orders/{order['id']}", headers=merchant)).json()

    order = await create(api, merchant)
    assert await latest("order.created") == {"object": await shown(order)}
    pay = await api.post("/v1/payments", json={"order_id": order["id"], "asset": "SOL"},
                         headers=merchant)
    assert pay.status == 201, await pay.text()
    payment_id = (await pay.json())["id"]
    await pool.execute("UPDATE payments SET status = 'expired' WHERE id = $1",
                       uuid.UUID(payment_id))
    settled = await api.post(f"/v1/payments/{payment_id}/settle",
                             json={"reason": "paid by bank transfer"}, headers=merchant)
    assert settled.status == 200
    assert await latest("order.paid") == {"object": await shown(order),
                                          "previous_status": "pending_payment",
                                          "payment_id": payment_id}
    shipped = await api.post(f"/v1/orders/{order['id']}/fulfillment",
                             json={"carrier": "DHL"}, headers=merchant)
    assert shipped.status == 200
    assert await latest("order.fulfilled") == {"object": await shown(order),
                                               "previous_status": "paid"}

    other = await create(api, merchant)
    cancelled = await api.post(f"/v1/orders/{other['id']}/cancel", json={"reason": "no stock"},
                               headers=merchant)
    assert cancelled.status == 200
    assert await latest("order.cancelled") == {"object": await shown(other),
                                               "previous_status": "pending_payment",
                                               "reason": "no stock"}


# ----- read, list, paginate, filter -----

async def test_get_by_id_or_number_and_404s(api: TestClient, merchant: dict[str, str]) -> None:
    order = await create(api, merchant)
    for ref in (order["id"], order["number"]):
        resp = await api.get(f"/v1/orders/{ref}", headers=merchant)
        assert resp.status == 200
        assert await resp.json() == order
    for ref in (str(uuid.uuid4()), "not-an-id", "ORD-20260101-0001", "ORD-2026-1", "%00",
                "x" * 300):
        resp = await api.get(f"/v1/orders/{ref}", headers=merchant)
        assert resp.status == 404, ref
        assert (await error_of(resp))["code"] == "resource_missing"


async def test_pagination_and_filters(api: TestClient, merchant: dict[str, str],
                                      pool: asyncpg.Pool) -> None:
    made = [await create(api, merchant,
                         customer={"email": f"c{i % 3}@example.com"}) for i in range(45)]
    seen: list[str] = []
    cursor, sizes = None, []
    while True:
        params = {"limit": "20", **({"cursor": cursor} if cursor else {})}
        page = await (await api.get("/v1/orders", params=params, headers=merchant)).json()
        assert page["object"] == "list"
        sizes.append(len(page["data"]))
        seen += [o["id"] for o in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            assert cursor is None
            break
    assert sizes == [20, 20, 5]
    assert seen == [o["id"] for o in reversed(made)]  # newest first, none twice, none missed
    default = await (await api.get("/v1/orders", headers=merchant)).json()
    assert len(default["data"]) == 20

    by_email = await (await api.get("/v1/orders", params={"customer_email": "C1@example.com",
                                                          "limit": "100"},
                                    headers=merchant)).json()
    assert len(by_email["data"]) == 15
    assert {o["customer"]["email"] for o in by_email["data"]} == {"c1@example.com"}
    await mark_paid(pool, made[0])
    paid = await (await api.get("/v1/orders", params={"status": "paid"},
                                headers=merchant)).json()
    assert [o["id"] for o in paid["data"]] == [made[0]["id"]]

    customer = await (await api.get("/v1/customers/C2@Example.com/orders",
                                    params={"limit": "10"}, headers=merchant)).json()
    assert (len(customer["data"]), customer["has_more"]) == (10, True)
    rest = await (await api.get("/v1/customers/c2@example.com/orders",
                                params={"cursor": customer["next_cursor"]},
                                headers=merchant)).json()
    assert len(rest["data"]) == 5
    assert (await api.get("/v1/customers/nobody@example.com/orders",
                          headers=merchant)).status == 404


async def test_created_range_filter(api: TestClient, merchant: dict[str, str],
                                    pool: asyncpg.Pool) -> None:
    old, new = await create(api, merchant), await create(api, merchant)
    await pool.execute("UPDATE orders SET created_at = '2026-01-01T12:00:00Z' WHERE id = $1",
                       uuid.UUID(old["id"]))

    async def ids(**params: str) -> list[str]:
        page = await (await api.get("/v1/orders", params=params, headers=merchant)).json()
        return [o["id"] for o in page["data"]]

    assert await ids(created_lt="2026-01-02T00:00:00Z") == [old["id"]]
    assert await ids(created_gte="2026-01-02T00:00:00Z") == [new["id"]]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await ids(created_gte="2026-01-01T12:00:00Z", created_lt=tomorrow) == [
        new["id"], old["id"]]


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"status": "lost"},
    {"cursor": "garbage!"}, {"created_gte": "yesterday"}, {"colour": "red"},
])
async def test_bad_list_queries_are_422(api: TestClient, merchant: dict[str, str],
                                        params: dict[str, str]) -> None:
    resp = await api.get("/v1/orders", params=params, headers=merchant)
    assert resp.status == 422, params
    assert (await error_of(resp))["param"] == next(iter(params))


# ----- cancel -----

async def test_cancel_cancels_pending_payments_and_writes_history_and_audit(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    order = await create(api, merchant)
    pay = await api.post("/v1/payments", json={"order_id": order["id"], "asset": "SOL"},
                         headers=merchant)
    assert pay.status == 201, await pay.text()
    resp = await api.post(f"/v1/orders/{order['number']}/cancel",
                          json={"reason": "out of stock"}, headers=merchant)
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "cancelled"
    assert body["cancelled_at"] is not None
    assert (body["status_history"][-1]["from_status"], body["status_history"][-1]["reason"]) \
        == ("pending_payment", "out of stock")
    payment = await pool.fetchrow("SELECT status, closed_at FROM payments")
    assert payment["status"] == "cancelled"
    assert payment["closed_at"] is not None
    assert await event_types(pool) == ["order.created", "payment.created", "payment.cancelled",
                                       "order.cancelled"]
    cancelled = await pool.fetchval("SELECT data FROM events WHERE type = 'payment.cancelled'")
    assert (cancelled["object"]["object"], cancelled["object"]["status"]) == ("payment",
                                                                              "cancelled")
    assert cancelled["reason"].endswith("cancelled")
    actions = [r["action"] for r in await pool.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert actions[-2:] == ["payment.cancel", "order.cancel"]
    assert await pool.fetchval("SELECT count(*) FROM order_status_history "
                               "WHERE to_status = 'cancelled'") == 1

    again = await api.post(f"/v1/orders/{order['id']}/cancel", json={}, headers=merchant)
    assert again.status == 409
    assert (await error_of(again))["code"] == "order_not_cancellable"


async def test_cancel_is_refused_once_paid_or_shipped(api: TestClient, merchant: dict[str, str],
                                                      pool: asyncpg.Pool) -> None:
    paid = await create(api, merchant)
    await mark_paid(pool, paid)
    refused = await api.post(f"/v1/orders/{paid['id']}/cancel", json={}, headers=merchant)
    assert refused.status == 409
    error = await error_of(refused)
    assert error["code"] == "order_not_cancellable"
    assert "paid" in error["message"]
    await pool.execute("UPDATE orders SET status = 'shipped'")
    refused = await api.post(f"/v1/orders/{paid['id']}/cancel", json={}, headers=merchant)
    assert refused.status == 409
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'order.cancelled'") == 0


async def test_cancel_is_refused_while_money_is_on_the_way(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    order = await create(api, merchant)
    for _ in range(2):
        await api.post("/v1/payments", json={"order_id": order["id"], "asset": "SOL"},
                       headers=merchant)
    await pool.execute("UPDATE payments SET status = 'detected' WHERE id = "
                       "(SELECT min(id::text)::uuid FROM payments)")
    resp = await api.post(f"/v1/orders/{order['id']}/cancel", json={}, headers=merchant)
    assert resp.status == 409
    assert (await error_of(resp))["code"] == "payment_in_progress"
    # Nothing changed: not the order, not the other (pending) payment.
    assert await pool.fetchval("SELECT status FROM orders") == "pending_payment"
    assert sorted(r["status"] for r in await pool.fetch("SELECT status FROM payments")) == [
        "detected", "pending"]
    assert "order.cancelled" not in await event_types(pool)


async def test_concurrent_cancels_cancel_once(api: TestClient, merchant: dict[str, str],
                                              pool: asyncpg.Pool) -> None:
    order = await create(api, merchant)
    answers = await asyncio.gather(*(api.post(f"/v1/orders/{order['id']}/cancel", json={},
                                              headers=merchant) for _ in range(5)))
    assert sorted(r.status for r in answers) == [200, 409, 409, 409, 409]
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'order.cancelled'") == 1
    assert await pool.fetchval("SELECT count(*) FROM order_status_history") == 2


async def test_cancel_racing_a_settlement_never_deadlocks_and_one_wins(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    """The settlement locks the payment then the order; cancel takes them in that order too."""
    for _ in range(6):
        order = await create(api, merchant)
        pay = await (await api.post("/v1/payments", json={"order_id": order["id"],
                                                          "asset": "SOL"},
                                    headers=merchant)).json()
        cancel, settle = await asyncio.gather(
            api.post(f"/v1/orders/{order['id']}/cancel", json={}, headers=merchant),
            api.post(f"/v1/payments/{pay['id']}/settle", json={"reason": "paid by wire"},
                     headers=merchant))
        assert sorted((cancel.status, settle.status)) == [200, 409], await cancel.text()
        states = await pool.fetchrow(
            "SELECT o.status AS order_status, p.status AS payment_status "
            "FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.id = $1",
            uuid.UUID(order["id"]))
        assert tuple(states) in {("cancelled", "cancelled"), ("paid", "confirmed")}


# ----- fulfilment -----

async def test_fulfilment_steps(api: TestClient, merchant: dict[str, str],
                                pool: asyncpg.Pool) -> None:
    order = await create(api, merchant)
    url = f"/v1/orders/{order['id']}/fulfillment"
    early = await api.post(url, json={"carrier": "DHL"}, headers=merchant)
    assert early.status == 409  # not paid yet
    assert (await error_of(early))["code"] == "invalid_transition"
    await mark_paid(pool, order)
    fulfilled = await api.post(url, json={"status": "fulfilled"}, headers=merchant)
    assert (await fulfilled.json())["status"] == "fulfilled"
    shipped = await api.post(url, json={"carrier": "DHL", "tracking_number": "JD0146"},
                             headers=merchant)
    assert shipped.status == 200
    body = await shipped.json()
    assert (body["status"], body["carrier"], body["tracking_number"]) == (
        "shipped", "DHL", "JD0146")
    delivered = await api.post(url, json={"status": "delivered"}, headers=merchant)
    body = await delivered.json()
    assert (body["status"], body["carrier"]) == ("delivered", "DHL")  # tracking is kept
    assert [(h["from_status"], h["to_status"], h["reason"]) for h in body["status_history"]] \
        == [(None, "pending_payment", "created"), ("paid", "fulfilled", None),
            ("fulfilled", "shipped", "DHL JD0146"), ("shipped", "delivered", None)]
    events = await pool.fetch("SELECT data FROM events WHERE type = 'order.fulfilled' "
                              "ORDER BY seq")
    assert [e["data"]["object"]["status"] for e in events] == ["fulfilled", "shipped",
                                                               "delivered"]
    assert [e["data"]["previous_status"] for e in events] == ["paid", "fulfilled", "shipped"]
    assert events[1]["data"]["object"]["tracking_number"] == "JD0146"
    assert await pool.fetchval("SELECT count(*) FROM audit_log "
                               "WHERE action = 'order.fulfil'") == 3


@pytest.mark.parametrize(("start", "step", "allowed"), [
    ("paid", "shipped", True), ("paid", "delivered", False), ("fulfilled", "fulfilled", False),
    ("shipped", "shipped", False), ("shipped", "fulfilled", False),
    ("delivered", "delivered", False), ("cancelled", "shipped", False),
    ("refunded", "shipped", False), ("pending_payment", "fulfilled", False),
])
async def test_fulfilment_transitions(api: TestClient, merchant: dict[str, str],
                                      pool: asyncpg.Pool, start: str, step: str,
                                      allowed: bool) -> None:
    order = await create(api, merchant)
    await pool.execute("UPDATE orders SET status = $1, paid_at = now()", start)
    resp = await api.post(f"/v1/orders/{order['id']}/fulfillment", json={"status": step},
                          headers=merchant)
    assert resp.status == (200 if allowed else 409)
    expected = step if allowed else start
    assert await pool.fetchval("SELECT status FROM orders") == expected


async def test_concurrent_shipping_ships_once(api: TestClient, merchant: dict[str, str],
                                              pool: asyncpg.Pool) -> None:
    order = await create(api, merchant)
    await mark_paid(pool, order)
    answers = await asyncio.gather(*(
        api.post(f"/v1/orders/{order['id']}/fulfillment", json={"tracking_number": f"T{n}"},
                 headers=merchant) for n in range(4)))
    assert sorted(r.status for r in answers) == [200, 409, 409, 409]
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'order.fulfilled'") == 1


# ----- isolation, scopes -----

async def test_another_stores_order_is_404(api: TestClient, merchant: dict[str, str],
                                           other_merchant: dict[str, str],
                                           pool: asyncpg.Pool) -> None:
    order = await create(api, merchant)
    await mark_paid(pool, order)
    for ref in (order["id"], order["number"]):
        assert (await api.get(f"/v1/orders/{ref}", headers=other_merchant)).status == 404
        for action, body in (("cancel", {}), ("fulfillment", {"carrier": "DHL"})):
            resp = await api.post(f"/v1/orders/{ref}/{action}", json=body,
                                  headers=other_merchant)
            assert resp.status == 404
            assert (await error_of(resp))["code"] == "resource_missing"
    assert (await api.get("/v1/customers/ada@example.com/orders",
                          headers=other_merchant)).status == 404
    page = await (await api.get("/v1/orders", headers=other_merchant)).json()
    assert page["data"] == []
    assert await pool.fetchval("SELECT status FROM orders") == "paid"


async def test_scopes_are_enforced(api: TestClient, pool: asyncpg.Pool) -> None:
    reader, _ = await make_store(pool, "reader", scopes=["orders:read"])
    payer, _ = await make_store(pool, "payer", scopes=["payments:read", "payments:write"])
    resp = await api.post("/v1/orders", json=ORDER, headers=reader)
    assert resp.status == 403
    assert (await error_of(resp))["code"] == "missing_scope"
    assert (await api.get("/v1/orders", headers=reader)).status == 200
    assert (await api.get("/v1/orders", headers=payer)).status == 403
    assert (await api.get("/v1/orders")).status == 401


# ----- idempotency -----

async def test_same_key_same_body_replays_the_answer(api: TestClient, merchant: dict[str, str],
                                                     pool: asyncpg.Pool) -> None:
    key = {**merchant, "Idempotency-Key": "cart-c_123"}
    first = await api.post("/v1/orders", json=ORDER, headers=key)
    again = await api.post("/v1/orders", json=ORDER, headers=key)
    assert (first.status, again.status) == (201, 201)
    assert await first.json() == await again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await pool.fetchval("SELECT count(*) FROM orders") == 1
    changed = await api.post("/v1/orders", json={**ORDER, "tax": "0"}, headers=key)
    assert changed.status == 409
    assert (await error_of(changed))["code"] == "idempotency_key_reused"
    assert await pool.fetchval("SELECT count(*) FROM orders") == 1
    other_key = await api.post("/v1/orders", json=ORDER,
                               headers={**merchant, "Idempotency-Key": "cart-c_124"})
    assert other_key.status == 201


async def test_concurrent_requests_with_one_key_make_one_order(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    key = {**merchant, "Idempotency-Key": "cart-c_123"}
    answers = await asyncio.gather(*(api.post("/v1/orders", json=ORDER, headers=key)
                                     for _ in range(5)))
    assert [r.status for r in answers] == [201] * 5
    assert len({(await r.json())["id"] for r in answers}) == 1
    assert await pool.fetchval("SELECT count(*) FROM orders") == 1
    assert await pool.fetchval("SELECT count(*) FROM events") == 1


async def test_idempotent_cancel(api: TestClient, merchant: dict[str, str],
                                 pool: asyncpg.Pool) -> None:
    order = await create(api, merchant)
    key = {**merchant, "Idempotency-Key": "cancel-1"}
    url = f"/v1/orders/{order['id']}/cancel"
    first = await api.post(url, json={"reason": "r"}, headers=key)
    again = await api.post(url, json={"reason": "r"}, headers=key)
    assert (first.status, again.status) == (200, 200)  # a retry is not a 409
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'order.cancelled'") == 1


# ----- bad input -----

async def test_malformed_bodies(api: TestClient, merchant: dict[str, str],
                                pool: asyncpg.Pool) -> None:
    json_headers = {**merchant, "Content-Type": "application/json"}
    for raw in (b"{not json", b'{"customer": ', b"[1, 2]", b'"order"', b'{"tax": NaN}'):
        resp = await api.post("/v1/orders", data=raw, headers=json_headers)
        assert resp.status == 400, raw
        assert (await error_of(resp))["code"] == "invalid_json"
    resp = await api.post("/v1/orders", data=b"customer=ada",
                          headers={**merchant, "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 415
    assert (await error_of(resp))["code"] == "unsupported_media_type"
    resp = await api.post(f"/v1/orders/{uuid.uuid4()}/cancel", data=b"x",
                          headers={**merchant, "Content-Type": "text/plain"})
    assert resp.status == 415
    assert await pool.fetchval("SELECT count(*) FROM orders") == 0


@pytest.mark.parametrize(("patch", "param", "code"), [
    ({"discount": "5"}, "discount", "parameter_unknown"),
    ({"customer": {"email": "a@example.com", "vip": True}}, "customer.vip",
     "parameter_unknown"),
    ({"items": [{**ITEM, "colour": "red"}]}, "items.0.colour", "parameter_unknown"),
    ({"customer": None}, "customer", "parameter_invalid"),
    ({"items": []}, "items", "parameter_invalid"),
    ({"items": [ITEM] * 101}, "items", "parameter_invalid"),
    ({"items": [{**ITEM, "quantity": "2"}]}, "items.0.quantity", "parameter_invalid"),
    ({"items": [{**ITEM, "quantity": 1.5}]}, "items.0.quantity", "parameter_invalid"),
    ({"items": [{**ITEM, "quantity": True}]}, "items.0.quantity", "parameter_invalid"),
    ({"items": [{**ITEM, "quantity": 0}]}, "items.0.quantity", "parameter_invalid"),
    ({"items": [{**ITEM, "quantity": 1_000_001}]}, "items.0.quantity", "parameter_invalid"),
    ({"items": [{**ITEM, "unit_price": "-1"}]}, "items.0.unit_price", "parameter_invalid"),
    ({"items": [{**ITEM, "unit_price": "1e3"}]}, "items.0.unit_price", "parameter_invalid"),
    ({"items": [{**ITEM, "unit_price": "1000000001"}]}, "items.0.unit_price",
     "parameter_invalid"),
    ({"items": [{**ITEM, "quantity": 1_000_000, "unit_price": "999999999"}]}, None,
     "parameter_invalid"),
    ({"items": [{**ITEM, "sku": "S" * 101}]}, "items.0.sku", "parameter_invalid"),
    ({"items": [{**ITEM, "name": ""}]}, "items.0.name", "parameter_invalid"),
    ({"items": [{"sku": "A", "name": "A", "quantity": 1}]}, "items.0.unit_price",
     "parameter_missing"),
    ({"shipping": "-5"}, "shipping", "parameter_invalid"),
    ({"tax": "abc"}, "tax", "parameter_invalid"),
    ({"customer": {"email": "not-an-email"}}, "customer.email", "parameter_invalid"),
    ({"customer": {"email": "a" * 250 + "@example.com"}}, "customer.email",
     "parameter_invalid"),
    ({"currency": "ZZZ"}, "currency", "parameter_invalid"),
    ({"currency": 840}, "currency", "parameter_invalid"),
    ({"shipping_address": {**ORDER["shipping_address"], "country": "England"}},
     "shipping_address.country", "parameter_invalid"),
    ({"shipping_address": {**ORDER["shipping_address"], "city": ""}},
     "shipping_address.city", "parameter_invalid"),
    ({"metadata": {"k": 1}}, "metadata.k", "parameter_invalid"),
    ({"metadata": {f"k{n}": "v" for n in range(51)}}, "metadata", "parameter_invalid"),
])
async def test_bad_orders_are_422(api: TestClient, merchant: dict[str, str],
                                  pool: asyncpg.Pool, patch: dict[str, object],
                                  param: str | None, code: str) -> None:
    resp = await api.post("/v1/orders", json={**ORDER, **patch}, headers=merchant)
    assert resp.status == 422, await resp.text()
    error = await error_of(resp)
    assert (error["param"], error["code"]) == (param, code)
    assert await pool.fetchval("SELECT count(*) FROM orders") == 0


@pytest.mark.parametrize(("action", "body", "param"), [
    ("cancel", {"reason": "r" * 501}, "reason"),
    ("cancel", {"why": "x"}, "why"),
    ("fulfillment", {"status": "lost"}, "status"),
    ("fulfillment", {"carrier": ""}, "carrier"),
    ("fulfillment", {"tracking_number": 12345}, "tracking_number"),
])
async def test_bad_cancel_and_fulfilment_bodies(api: TestClient, merchant: dict[str, str],
                                                pool: asyncpg.Pool, action: str,
                                                body: dict[str, object], param: str) -> None:
    order = await create(api, merchant)
    await mark_paid(pool, order)
    resp = await api.post(f"/v1/orders/{order['id']}/{action}", json=body, headers=merchant)
    assert resp.status == 422
    assert (await error_of(resp))["param"] == param
    assert await pool.fetchval("SELECT status FROM orders") == "paid"


def test_order_numbers_look_like_this() -> None:
    from api.orders import ORDER_NUMBER

    assert ORDER_NUMBER.fullmatch("ORD-20261122-0001")
    assert ORDER_NUMBER.fullmatch("ORD-20261122-12345")
    assert not ORDER_NUMBER.fullmatch("ORD-20261122-001")
    assert not ORDER_NUMBER.fullmatch("ORD-２０２６１１２２-0001")  # full-width digits
    assert re.fullmatch(r"[0-9a-f-]{36}", str(uuid.uuid4()))
