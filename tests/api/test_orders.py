"""Orders and customers: creation with server totals, numbers under concurrency, reads,
pagination, cancel and fulfilment transitions, isolation, idempotency, bad input."""

from __future__ import annotations

import asyncio
import re
import uuid

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

ORDER = {
    "customer": {"email": "Ada@Example.com", "name": "Ada Lovelace"},
    "items": [{"sku": "MUG-1", "name": "Mug", "quantity": 2, "unit_price": "12.50"},
              {"sku": "TEE-M", "name": "T-shirt", "quantity": 1, "unit_price": "20"}],
    "currency": "USD", "shipping": "5.00", "tax": "3.60",
    "shipping_address": {"name": "Ada Lovelace", "line1": "12 St James's Sq",
                         "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"},
    "metadata": {"cart": "c_123"},
}


async def create(api: TestClient, headers: dict[str, str], **patch: object) -> dict:
    resp = await api.post("/v1/orders", json={**ORDER, **patch}, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_create_computes_totals_and_numbers(api: TestClient, merchant: dict[str, str],
                                                  pool: asyncpg.Pool) -> None:
    order = await create(api, merchant, total="53.60")
    assert order["object"] == "order"
    assert re.fullmatch(r"ORD-\d{8}-0001", order["number"])
    assert order["subtotal"] == "45.00000000"
    assert order["total"] == "53.60000000"
    assert order["status"] == "pending_payment"
    assert order["customer"]["email"] == "Ada@example.com"  # domain normalised
    assert [i["total"] for i in order["items"]] == ["25.00000000", "20.00000000"]
    assert order["shipping_address"]["country"] == "GB"
    assert order["status_history"][0]["to_status"] == "pending_payment"
    by_number = await api.get(f"/v1/orders/{order['number']}", headers=merchant)
    assert (await by_number.json())["id"] == order["id"]
    assert await pool.fetchval("SELECT count(*) FROM audit_log "
                               "WHERE action = 'order.create'") == 1


async def test_client_totals_must_match(api: TestClient, merchant: dict[str, str]) -> None:
    for field, value in (("total", "53.59"), ("subtotal", "46")):
        resp = await api.post("/v1/orders", json={**ORDER, field: value}, headers=merchant)
        assert resp.status == 422
        error = (await resp.json())["error"]
        assert error["code"] == "total_mismatch"
        assert error["param"] == field


async def test_order_numbers_are_unique_under_concurrency(
        api: TestClient, merchant: dict[str, str]) -> None:
    answers = await asyncio.gather(*(api.post("/v1/orders", json=ORDER, headers=merchant)
                                     for _ in range(20)))
    numbers = [(await r.json())["number"] for r in answers]
    assert len(set(numbers)) == 20
    assert sorted(int(n[-4:]) for n in numbers) == list(range(1, 21))


async def test_pagination_and_filters(api: TestClient, merchant: dict[str, str],
                                      pool: asyncpg.Pool) -> None:
    made = [await create(api, merchant,
                         customer={"email": f"c{i % 3}@example.com"}) for i in range(45)]
    seen: list[str] = []
    cursor, sizes = None, []
    while True:
        params = {"limit": "20", **({"cursor": cursor} if cursor else {})}
        page = await (await api.get("/v1/orders", params=params, headers=merchant)).json()
        sizes.append(len(page["data"]))
        seen += [o["id"] for o in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert sizes == [20, 20, 5]
    assert seen == [o["id"] for o in reversed(made)]
    by_email = await (await api.get("/v1/orders", params={"customer_email": "C1@example.com",
                                                          "limit": "100"},
                                    headers=merchant)).json()
    assert len(by_email["data"]) == 15
    await pool.execute("UPDATE orders SET status = 'paid', paid_at = now() WHERE id = $1",
                       uuid.UUID(made[0]["id"]))
    paid = await (await api.get("/v1/orders", params={"status": "paid"},
                                headers=merchant)).json()
    assert [o["id"] for o in paid["data"]] == [made[0]["id"]]
    customer = await (await api.get("/v1/customers/c2@example.com/orders",
                                    params={"limit": "100"}, headers=merchant)).json()
    assert len(customer["data"]) == 15
    assert (await api.get("/v1/customers/nobody@example.com/orders",
                          headers=merchant)).status == 404


async def test_cancel_cancels_pending_payments_and_is_refused_once_paid(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    order = await create(api, merchant)
    pay = await api.post("/v1/payments", json={"order_id": order["id"], "asset": "SOL"},
                         headers=merchant)
    assert pay.status == 201
    resp = await api.post(f"/v1/orders/{order['id']}/cancel", json={"reason": "out of stock"},
                          headers=merchant)
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "cancelled"
    assert body["status_history"][-1]["reason"] == "out of stock"
    assert await pool.fetchval("SELECT status FROM payments") == "cancelled"
    types = [r["type"] for r in await pool.fetch("SELECT type FROM events ORDER BY seq")]
    assert types == ["order.created", "payment.created", "payment.cancelled",
                     "order.cancelled"]

    paid = await create(api, merchant)
    await pool.execute("UPDATE orders SET status = 'paid', paid_at = now() WHERE id = $1",
                       uuid.UUID(paid["id"]))
    refused = await api.post(f"/v1/orders/{paid['id']}/cancel", json={}, headers=merchant)
    assert refused.status == 409
    assert (await refused.json())["error"]["code"] == "order_not_cancellable"


async def test_cancel_is_refused_while_money_is_on_the_way(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    order = await create(api, merchant)
    await api.post("/v1/payments", json={"order_id": order["id"], "asset": "SOL"},
                   headers=merchant)
    await pool.execute("UPDATE payments SET status = 'detected'")
    resp = await api.post(f"/v1/orders/{order['id']}/cancel", json={}, headers=merchant)
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "payment_in_progress"
    assert await pool.fetchval("SELECT status FROM orders") == "pending_payment"


async def test_fulfilment_transitions(api: TestClient, merchant: dict[str, str],
                                      pool: asyncpg.Pool) -> None:
    order = await create(api, merchant)
    url = f"/v1/orders/{order['id']}/fulfillment"
    early = await api.post(url, json={"carrier": "DHL"}, headers=merchant)
    assert early.status == 409  # not paid yet
    await pool.execute("UPDATE orders SET status = 'paid', paid_at = now()")
    shipped = await api.post(url, json={"carrier": "DHL", "tracking_number": "JD0146"},
                             headers=merchant)
    assert shipped.status == 200
    body = await shipped.json()
    assert (body["status"], body["carrier"], body["tracking_number"]) == (
        "shipped", "DHL", "JD0146")
    delivered = await api.post(url, json={"status": "delivered"}, headers=merchant)
    assert (await delivered.json())["status"] == "delivered"
    again = await api.post(url, json={"status": "shipped"}, headers=merchant)
    assert again.status == 409
    history = [h["to_status"] for h in (await delivered.json())["status_history"]]
    assert history == ["pending_payment", "shipped", "delivered"]
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'order.fulfilled'") == 2


async def test_another_stores_order_is_404(api: TestClient, merchant: dict[str, str],
                                           other_merchant: dict[str, str]) -> None:
    order = await create(api, merchant)
    for ref in (order["id"], order["number"]):
        assert (await api.get(f"/v1/orders/{ref}", headers=other_merchant)).status == 404
        resp = await api.post(f"/v1/orders/{ref}/cancel", json={}, headers=other_merchant)
        assert resp.status == 404
    assert (await api.get("/v1/orders/not-an-id", headers=merchant)).status == 404
    page = await (await api.get("/v1/orders", headers=other_merchant)).json()
    assert page["data"] == []


async def test_idempotent_order_creation(api: TestClient, merchant: dict[str, str],
                                         pool: asyncpg.Pool) -> None:
    key = {**merchant, "Idempotency-Key": "cart-c_123"}
    answers = await asyncio.gather(*(api.post("/v1/orders", json=ORDER, headers=key)
                                     for _ in range(5)))
    assert {(await r.json())["id"] for r in answers} == {(await answers[0].json())["id"]}
    assert await pool.fetchval("SELECT count(*) FROM orders") == 1
    changed = await api.post("/v1/orders", json={**ORDER, "tax": "0"}, headers=key)
    assert changed.status == 409


@pytest.mark.parametrize(("patch", "param"), [
    ({"items": []}, "items"),
    ({"items": [{"sku": "A", "name": "A", "quantity": "2", "unit_price": "1"}]},
     "items.0.quantity"),
    ({"items": [{"sku": "A", "name": "A", "quantity": 0, "unit_price": "1"}]},
     "items.0.quantity"),
    ({"items": [{"sku": "A", "name": "A", "quantity": 1, "unit_price": "-1"}]},
     "items.0.unit_price"),
    ({"items": [{"sku": "A", "name": "A", "quantity": 1000000,
                 "unit_price": "999999999"}]}, None),
    ({"items": [{"sku": "A", "name": "A", "quantity": 1, "unit_price": "1"}] * 101}, "items"),
    ({"customer": {"email": "not-an-email"}}, "customer.email"),
    ({"currency": "ZZZ"}, "currency"),
    ({"shipping_address": {"name": "x", "line1": "y", "city": "z", "postal_code": "1",
                           "country": "England"}}, "shipping_address.country"),
    ({"discount": "5"}, "discount"),
])
async def test_bad_orders_are_422(api: TestClient, merchant: dict[str, str],
                                  pool: asyncpg.Pool, patch: dict[str, object],
                                  param: str | None) -> None:
    resp = await api.post("/v1/orders", json={**ORDER, **patch}, headers=merchant)
    assert resp.status == 422, await resp.text()
    if param is not None:
        assert (await resp.json())["error"]["param"] == param
    assert await pool.fetchval("SELECT count(*) FROM orders") == 0
