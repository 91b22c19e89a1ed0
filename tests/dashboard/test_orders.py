"""The dashboard's orders over HTTP: the list (status filter, search by number or email, keyset
pages), an order's page (items, totals, customer, payments, history, who did what), and the
actions fulfil and cancel through the API's own work: refusals as pages that keep what was
typed, a double submit acting once, another store's order a 404, a read-only key without
buttons (and its forged POST refused)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.dashboard import orders as orders_area
from paywatch.services.keys import create_key
from tests.conftest import make_store
from tests.dashboard.helpers import fields, key_of, post_form, sign_in

ORDER: dict[str, Any] = {
    "customer": {"email": "Ada@Example.com", "name": "Ada Lovelace"},
    "items": [{"sku": "MUG-1", "name": "Mug", "quantity": 2, "unit_price": "12.5"},
              {"sku": "TEE-M", "name": "T-shirt", "quantity": 1, "unit_price": "20"}],
    "currency": "USD", "shipping": "5.00", "tax": "3.60",
    "shipping_address": {"name": "Ada Lovelace", "line1": "12 St James Sq",
                         "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"},
}
NUMBER = re.compile(r"/dashboard/orders/(ORD-\d{8}-\d{4,})\"")


async def create(api: TestClient, headers: dict[str, str], **patch: object) -> dict[str, Any]:
    resp = await api.post("/v1/orders", json={**ORDER, **patch}, headers=headers)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def paid(api: TestClient, pool: asyncpg.Pool, headers: dict[str, str]) -> dict[str, Any]:
    order = await create(api, headers)
    await pool.execute("UPDATE orders SET status = 'paid', paid_at = now() WHERE id = $1",
                       uuid.UUID(order["id"]))
    return order


async def listed(api: TestClient, query: str = "") -> tuple[int, str, list[str]]:
    page = await api.get(f"/dashboard/orders{query}")
    text = await page.text()
    return page.status, text, NUMBER.findall(text)


async def history(pool: asyncpg.Pool, order: dict[str, Any]) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT from_status, to_status FROM order_status_history "
                            "WHERE order_id = $1 ORDER BY id", uuid.UUID(order["id"]))
    return [(r["from_status"], r["to_status"]) for r in rows]


@pytest.fixture
async def shop(api: TestClient, pool: asyncpg.Pool) -> tuple[dict[str, str], str]:
    headers, _store = await make_store(pool, "shop")
    return headers, await sign_in(api, key_of(headers))


async def test_the_list_filters_searches_and_pages_by_keyset(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    headers, _csrf = shop
    made = [await create(api, headers) for _ in range(3)]
    bea = await create(api, headers, customer={"email": "bea@example.com"})
    theirs = await create(api, (await make_store(pool, "other-shop"))[0],
                          customer={"email": "bea@example.com"})
    await api.post(f"/v1/orders/{made[0]['id']}/cancel", json={}, headers=headers)
    newest_first = [o["number"] for o in reversed([*made, bea])]

    status, text, numbers = await listed(api)
    assert status == 200
    assert numbers == newest_first                    # the other store's order is not here
    assert '<th scope="col">Order</th>' in text
    monkeypatch.setattr(orders_area, "PAGE", 3)
    _status, text, first = await listed(api)
    cursor = re.search(r'href="(/dashboard/orders\?cursor=[^"]+)"', text)
    assert first == newest_first[:3]
    assert cursor is not None
    _status, text, second = await listed(api, cursor.group(1).removeprefix("/dashboard/orders"))
    assert second == newest_first[3:]
    assert 'id="next-page"' not in text
    assert "Newest orders" in text
    monkeypatch.undo()

    assert (await listed(api, "?status=cancelled"))[2] == [made[0]["number"]]
    assert (await listed(api, "?q=BEA%40example.com&status="))[2] == [bea["number"]]
    assert (await listed(api, f"?q={made[1]['number'].lower()}"))[2] == [made[1]["number"]]
    day = made[0]["number"][:12]                       # ORD-YYYYMMDD: the day's orders
    assert (await listed(api, f"?q={day}"))[2] == [n for n in newest_first
                                                   if n.startswith(day)]
    # Numbers count per store: the other store's first order shares our first's number.
    assert (await listed(api, f"?q={theirs['number']}"))[2] == [made[0]["number"]]


async def test_bad_filters_are_a_4xx_that_keeps_what_was_typed(
        api: TestClient, shop: tuple[dict[str, str], str]) -> None:
    status, text, _ = await listed(api, "?q=nothing+like+it")
    assert status == 422
    assert 'value="nothing like it"' in text
    assert "search by an order number" in text
    assert (await listed(api, "?status=lost"))[0] == 422
    assert (await listed(api, "?cursor=not-ours"))[0] == 422
    assert (await listed(api, "?status=paid&status=paid"))[0] == 422


async def test_an_order_page_shows_items_totals_customer_payments_and_history(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], str]) -> None:
    headers, _csrf = shop
    order = await create(api, headers)
    resp = await api.post("/v1/payments", headers=headers, json={
        "order_id": order["id"], "asset": "SOL"})
    payment = await resp.json()
    page = await api.get(f"/dashboard/orders/{order['number']}")
    assert page.status == 200
    text = await page.text()
    for shown in ("Mug", "T-shirt", "MUG-1", "45.00 USD", "53.60 USD", "5.00 USD", "3.60 USD",
                  "Ada Lovelace", "SW1Y 4JH", "pending payment",
                  f'href="/dashboard/payments/{payment["id"]}"', "order.create",
                  'id="cancel-form"'):
        assert shown in text, shown
    assert "ada@example.com" in text.lower()
    assert 'id="fulfil-form"' not in text              # nothing to fulfil before payment
    by_id = await api.get(f"/dashboard/orders/{order['id']}")   # the id works too
    assert by_id.status == 200


async def test_fulfil_through_the_api_work_once_per_form_with_refusals_kept(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], str]) -> None:
    headers, csrf = shop
    order = await paid(api, pool, headers)
    path = f"/dashboard/orders/{order['number']}"
    text = await (await api.get(path)).text()
    assert 'id="fulfil-form"' in text
    assert 'id="cancel-form"' not in text
    form_id = fields(text)["form_id"]
    for _ in range(2):     # a double submit: the second gets the first's answer
        done = await post_form(api, f"{path}/fulfil", csrf, form_id, status="shipped",
                               carrier="DHL", tracking_number="JD0001")
        assert done.status == 303
        assert done.headers["Location"] == f"{path}?notice=shipped"
    assert await history(pool, order) == [(None, "pending_payment"), ("paid", "shipped")]
    audit = await pool.fetch("SELECT actor FROM audit_log WHERE action = 'order.fulfil'")
    key_id = await pool.fetchval("SELECT id FROM api_keys")
    assert [a["actor"] for a in audit] == [f"key:{key_id}"]
    page = await (await api.get(f"{path}?notice=shipped")).text()
    assert "Recorded: the order is shipped." in page
    assert "JD0001" in page

    refused = await post_form(api, f"{path}/fulfil", csrf, status="fulfilled",
                              carrier="UPS", tracking_number="1Z999")
    assert refused.status == 409
    text = await refused.text()
    assert "shipped; fulfilled needs paid" in text
    assert 'value="UPS"' in text
    assert 'value="1Z999"' in text
    bad = await post_form(api, f"{path}/fulfil", csrf, status="lost", carrier="UPS")
    assert bad.status == 422
    assert 'value="UPS"' in await bad.text()
    assert len(await history(pool, order)) == 2


async def test_cancel_once_then_a_409_page(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], str]) -> None:
    headers, csrf = shop
    order = await create(api, headers)
    path = f"/dashboard/orders/{order['number']}"
    done = await post_form(api, f"{path}/cancel", csrf, reason="customer asked")
    assert done.status == 303
    text = await (await api.get(done.headers["Location"])).text()
    assert "The order is cancelled" in text
    assert "customer asked" in text
    again = await post_form(api, f"{path}/cancel", csrf, reason="twice")
    assert again.status == 409
    text = await again.text()
    assert "only an order pending payment can be cancelled" in text
    assert await history(pool, order) == [(None, "pending_payment"),
                                          ("pending_payment", "cancelled")]


async def test_another_stores_order_is_a_404_to_read_and_to_act_on(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], str]) -> None:
    _headers, csrf = shop
    theirs = await create(api, (await make_store(pool, "other-shop"))[0])
    for path in (f"/dashboard/orders/{theirs['id']}", "/dashboard/orders/ORD-19990101-0001",
                 "/dashboard/orders/nonsense"):
        assert (await api.get(path)).status == 404
    for action in ("cancel", "fulfil"):
        answer = await post_form(api, f"/dashboard/orders/{theirs['id']}/{action}", csrf,
                                 status="shipped")
        assert answer.status == 404
        assert 'data-code="resource_missing"' in await answer.text()
    assert await pool.fetchval("SELECT status FROM orders WHERE id = $1",
                               uuid.UUID(theirs["id"])) == "pending_payment"


async def test_a_read_only_key_sees_no_action_and_a_forged_post_is_refused(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    order = await create(api, headers)
    async with pool.acquire() as conn:
        reader, _row = await create_key(conn, store["id"], "finance",
                                        ["orders:read", "payments:read"], "test")
    csrf = await sign_in(api, reader)
    path = f"/dashboard/orders/{order['number']}"
    text = await (await api.get(path)).text()
    assert 'id="cancel-form"' not in text
    assert 'id="fulfil-form"' not in text
    assert "<button" not in text.split('id="main"')[1]      # no action in the page at all
    forged = await post_form(api, f"{path}/cancel", csrf)
    assert forged.status == 403
    assert await pool.fetchval("SELECT status FROM orders") == "pending_payment"
