"""The dashboard's payments over HTTP against real PostgreSQL: the list's filters, its search by
each kind of name, keyset pages, the payment page, and its actions (cancel, settle by hand) run
through the API's own work, once per form, refused without CSRF or the scope."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.dashboard import payments as dashboard_payments
from db import webhooks
from paywatch.services import transfers
from tests.conftest import make_store
from tests.dashboard.helpers import fields, key_of, post_form, sign_in

ORDER: dict[str, Any] = {
    "customer": {"email": "ada@example.com", "name": "Ada"},
    "items": [{"sku": "MUG-1", "name": "Mug", "quantity": 2, "unit_price": "12.50"}],
    "currency": "USD"}
BY_HAND = "SELECT count(*) FROM audit_log WHERE action IN ('payment.cancel', 'payment.settle')"
ROW = re.compile(r'<tr data-payment="([0-9a-f-]{36})">')


async def pay(api: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await api.post("/v1/payments", headers=headers, json={
        "amount": "30.00", "currency": "USD", "asset": "SOL", **body})
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def listed(api: TestClient, query: str = "", status: int = 200) -> tuple[list[str], str]:
    resp = await api.get(f"/dashboard/payments{query}")
    text = await resp.text()
    assert resp.status == status, text
    return ROW.findall(text), text


def link(page: str, which: str) -> str | None:
    found = re.search(rf'href="([^"]+)" id="page-{which}"', page)
    return html.unescape(found.group(1)) if found else None


@pytest.fixture
async def shop(api: TestClient, pool: asyncpg.Pool) -> tuple[dict[str, str], Any, str]:
    headers, store = await make_store(pool, "shop")
    csrf = await sign_in(api, key_of(headers))
    return headers, store, csrf


async def test_the_list_filters_by_status_exception_asset_chain_and_date(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, _store, _csrf = shop
    sol, usdc, late = (await pay(api, headers), await pay(api, headers, asset="USDC"),
                       await pay(api, headers))
    await pool.execute("UPDATE payments SET status = 'detected', exception = 'underpaid' "
                       "WHERE id = $1", uuid.UUID(usdc["id"]))
    await pool.execute("UPDATE payments SET created_at = created_at - interval '3 days', "
                       "status = 'expired', exception = 'paid_late' WHERE id = $1",
                       uuid.UUID(late["id"]))
    every, page = await listed(api)
    assert every == [usdc["id"], sol["id"], late["id"]]            # newest first
    assert 'aria-current="page">Payments<' in page
    assert (await listed(api, "?status=detected"))[0] == [usdc["id"]]
    assert (await listed(api, "?exception=paid_late"))[0] == [late["id"]]
    assert (await listed(api, "?asset=usdc"))[0] == [usdc["id"]]
    assert (await listed(api, "?chain=solana"))[0] == every
    assert (await listed(api, "?chain=base"))[0] == []
    today = datetime.now(UTC).date()
    assert (await listed(api, f"?from={today - timedelta(days=1)}"))[0] == [usdc["id"],
                                                                              sol["id"]]
    assert (await listed(api, f"?to={today - timedelta(days=2)}"))[0] == [late["id"]]
    assert (await listed(api, "?status=pending&asset=SOL"))[0] == [sol["id"]]
    nothing, text = await listed(api, "?status=cancelled")
    assert nothing == []
    assert 'id="no-payments"' in text


async def test_bad_filters_are_a_422_that_keeps_what_was_typed(
        api: TestClient, shop: tuple[dict[str, str], Any, str]) -> None:
    _rows, text = await listed(api, "?status=lost&q=order+1042", status=422)
    assert 'id="error"' in text
    assert "&#39;lost&#39; is not one of the choices" in text
    assert 'value="order 1042"' in text
    _rows, text = await listed(api, "?from=yesterday", status=422)
    assert "is not a date like" in text
    assert 'value="yesterday"' in text
    _rows, text = await listed(api, "?from=2026-11-02&to=2026-11-01", status=422)
    assert "ends before it starts" in text
    _rows, text = await listed(api, "?after=not-a-cursor", status=422)
    assert "cursor is not one this API gave out" in text
    _rows, text = await listed(api, "?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert" not in text
    assert "&lt;script&gt;" in text


async def test_one_box_finds_a_payment_by_id_order_reference_transaction_or_address(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, store, _csrf = shop
    resp = await api.post("/v1/orders", headers=headers, json=ORDER)
    order = await resp.json()
    for_order = await pay(api, headers, order_id=order["id"], amount=None, currency=None)
    plain, other = await pay(api, headers), await pay(api, headers)
    tx = "5" * 87
    async with pool.acquire() as conn, conn.transaction():
        assert await transfers.record(conn, {
            "chain": "solana", "tx_id": tx, "index": 0, "payment_id": uuid.UUID(plain["id"]),
            "asset": "SOL", "mint": None, "sender": "Sender1111111111111111111111111111111111111",
            "recipient": store["solana_recipient"], "amount": 1, "slot": 10,
            "status": "confirmed"})
    deposit = "0x52908400098527886E0F7030069857D2E4169EE7"
    await pool.execute("UPDATE payments SET recipient = $2 WHERE id = $1",
                       uuid.UUID(other["id"]), deposit)
    assert (await listed(api, f"?q={plain['id']}"))[0] == [plain["id"]]
    assert (await listed(api, f"?q={order['number']}"))[0] == [for_order["id"]]
    reference = plain["payment_request"]["reference"]
    assert (await listed(api, f"?q={reference}"))[0] == [plain["id"]]
    assert (await listed(api, f"?q={tx}"))[0] == [plain["id"]]
    assert (await listed(api, f"?q={deposit}"))[0] == [other["id"]]
    # The store's own wallet receives every Solana payment: all of them, newest first.
    assert (await listed(api, f"?q={store['solana_recipient']}"))[0] == [plain["id"],
                                                                         for_order["id"]]
    assert (await listed(api, f"?q=+{order['number']}+&status=pending"))[0] == [
        for_order["id"]]
    assert (await listed(api, f"?q={order['number']}&status=confirmed"))[0] == []
    assert (await listed(api, "?q=nothing-like-this"))[0] == []
    assert (await listed(api, f"?q={uuid.uuid4()}"))[0] == []


async def test_keyset_pages_show_every_payment_once_both_ways(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    headers, store, _csrf = shop
    monkeypatch.setattr(dashboard_payments, "PAGE_SIZE", 3)
    made = [(await pay(api, headers))["id"] for _ in range(8)]
    # Four share one instant: the id breaks the tie, and no page boundary loses one.
    await pool.execute("UPDATE payments SET created_at = (SELECT max(created_at) FROM payments) "
                       "WHERE id = ANY($1::uuid[])", [uuid.UUID(i) for i in made[2:6]])
    expected = [r["id"] for r in await pool.fetch(
        "SELECT id::text FROM payments WHERE store_id = $1 ORDER BY created_at DESC, id DESC",
        store["id"])]
    seen: list[list[str]] = []
    path: str | None = "/dashboard/payments?status=pending"
    while path is not None:
        rows, page = await listed(api, path.removeprefix("/dashboard/payments"))
        seen.append(rows)
        path = link(page, "older")
    assert [len(p) for p in seen] == [3, 3, 2]
    assert [i for p in seen for i in p] == expected
    assert 'id="page-first"' in page
    assert "status=pending" in (link(page, "newer") or "")
    back: list[list[str]] = []
    newer = link(page, "newer")
    while newer is not None:
        rows, page = await listed(api, newer.removeprefix("/dashboard/payments"))
        back.append(rows)
        newer = link(page, "newer")
    assert back == [seen[1], seen[0]]


async def test_the_payment_page_explains_the_quote_and_shows_transfers_and_deliveries(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, store, _csrf = shop
    payment = await pay(api, headers)
    async with pool.acquire() as conn:
        await webhooks.insert_endpoint(conn, store["id"], "https://shop.example/hooks", "s" * 32,
                                       None, ["*"])
        await webhooks.fan_out(conn, datetime.now(UTC), 100)
        await conn.execute("UPDATE webhook_deliveries SET attempts = 2, last_status_code = 500, "
                           "last_error = 'HTTP 500 from the shop'")
        async with conn.transaction():
            await transfers.record(conn, {
                "chain": "solana", "tx_id": "4" * 87, "index": 0,
                "payment_id": uuid.UUID(payment["id"]), "asset": "SOL", "mint": None,
                "sender": "Sender1111111111111111111111111111111111111",
                "recipient": store["solana_recipient"], "amount": 5, "slot": 10,
                "status": "processed"})
    resp = await api.get(f"/dashboard/payments/{payment['id']}")
    text = await resp.text()
    assert resp.status == 200, text
    assert text.count("<h1>") == 1
    assert f'data-live="/dashboard/payments/{payment["id"]}/events"' in text
    assert 'data-type="payment.created"' in text
    assert "HTTP 500 from the shop" in text
    assert "https://shop.example/hooks" in text
    event_id = await pool.fetchval("SELECT id FROM events WHERE payment_id = $1",
                                   uuid.UUID(payment["id"]))
    assert f'action="/dashboard/events/{event_id}/redeliver"' in text
    assert f'name="next" value="/dashboard/payments/{payment["id"]}"' in text
    assert 'href="https://explorer.solana.com/tx/' + "4" * 87 + '"' in text
    assert "(waiting for confirmed)" in text
    assert "The quote explained" in text
    assert "from static" in text
    assert 'id="cancel-form"' in text
    assert 'id="settle-form"' in text
    assert 'id="refund"' not in text                       # nothing to give back yet
    resp = await api.get(f"/dashboard/payments/{payment['id']}?notice=redelivered")
    assert "queued for delivery again" in await resp.text()


async def test_the_quote_explains_the_cfv_discount_in_plain_figures(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, _store, _csrf = shop
    payment = await pay(api, headers)
    await pool.execute("""
        UPDATE payments SET discount_percent = 7, valuation_percent = -35.5, fair_value = 230,
            fair_value_source = 'static', valuation_status = 'undervalued',
            quote = jsonb_set(quote, '{cfv,reason}', '"undervalued by 35.5 %: tier 30 %"')""")
    page = await (await api.get(f"/dashboard/payments/{payment['id']}")).text()
    assert "1 SOL = 150 USD, from static" in page
    assert "230 USD (static): SOL trades 35.5 % below it (undervalued)" in page
    assert re.search(r'id="discount">7 %: undervalued by 35.5 %: tier 30 %<', page)
    assert "(the price asked less 7 %)" in page


async def test_cancel_and_settle_run_the_apis_work_once_per_form_with_an_audit_row(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, _store, csrf = shop
    first, second = await pay(api, headers), await pay(api, headers)
    path = f"/dashboard/payments/{first['id']}"
    form_id = fields(await (await api.get(path)).text())["form_id"]
    for _ in range(2):                                      # a double submit acts once
        resp = await post_form(api, f"{path}/cancel", csrf, form_id, reason="customer left")
        assert resp.status == 303, await resp.text()
        assert resp.headers["Location"] == f"{path}?notice=cancelled"
    row = await pool.fetchrow("SELECT status FROM payments WHERE id = $1",
                              uuid.UUID(first["id"]))
    assert row["status"] == "cancelled"
    audits = await pool.fetch("SELECT * FROM audit_log WHERE action = 'payment.cancel'")
    assert len(audits) == 1
    assert audits[0]["actor"].startswith("key:")
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'payment.cancelled'") \
        == 1
    page = await (await api.get(f"{path}?notice=cancelled")).text()
    assert "The payment is cancelled." in page
    assert 'id="cancel-form"' not in page
    resp = await post_form(api, f"{path}/cancel", csrf)    # a fresh form: the API's 409
    assert resp.status == 409
    assert "only a pending payment" in await resp.text()

    target = f"/dashboard/payments/{second['id']}"
    await pool.execute("UPDATE payments SET status = 'expired' WHERE id = $1",
                       uuid.UUID(second["id"]))
    resp = await post_form(api, f"{target}/settle", csrf, reason="")
    text = await resp.text()
    assert resp.status == 422
    assert "say why you settle" in text
    resp = await post_form(api, f"{target}/settle", csrf, reason="x" * 501)
    assert resp.status == 422
    assert "x" * 501 in await resp.text()
    form_id = fields(await (await api.get(target)).text())["form_id"]
    for _ in range(2):
        resp = await post_form(api, f"{target}/settle", csrf, form_id, reason="paid by wire")
        assert resp.status == 303
    row = await pool.fetchrow("SELECT status, exception FROM payments WHERE id = $1",
                              uuid.UUID(second["id"]))
    assert (row["status"], row["exception"]) == ("confirmed", "marked")
    audits = await pool.fetch("SELECT * FROM audit_log WHERE action = 'payment.settle'")
    assert len(audits) == 1
    assert audits[0]["after"]["reason"] == "paid by wire"
    page = await (await api.get(f"{target}?notice=settled")).text()
    assert "settled by hand" in page
    assert "“paid by wire”" in page
    assert f'href="{target}/refund"' not in page            # nothing was received on-chain


async def test_a_post_without_the_csrf_token_changes_nothing(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, _store, _csrf = shop
    payment = await pay(api, headers)
    resp = await post_form(api, f"/dashboard/payments/{payment['id']}/cancel", None)
    assert resp.status == 403
    assert "csrf_token_invalid" in await resp.text()
    resp = await post_form(api, f"/dashboard/payments/{payment['id']}/cancel", "forged" * 8)
    assert resp.status == 403
    assert await pool.fetchval("SELECT status FROM payments") == "pending"
    assert await pool.fetchval(BY_HAND) == 0


async def test_a_read_only_key_sees_no_actions_and_its_forged_post_is_refused(
        api: TestClient, pool: asyncpg.Pool) -> None:
    writer, store = await make_store(pool, "shop")
    payment = await pay(api, writer)
    await pool.execute("UPDATE payments SET status = 'confirmed', confirmed_at = now(), "
                       "amount_received = amount_due")
    from paywatch.services.keys import create_key
    async with pool.acquire() as conn:
        key, _row = await create_key(conn, store["id"], "finance", ["payments:read"], "test")
    csrf = await sign_in(api, key)
    page = await (await api.get(f"/dashboard/payments/{payment['id']}")).text()
    for action in ('id="actions"', "cancel-form", "settle-form", 'id="refund"', "redeliver"):
        assert action not in page
    resp = await post_form(api, f"/dashboard/payments/{payment['id']}/settle", csrf,
                           reason="forged")
    assert resp.status == 403
    assert "payments:write" in await resp.text()
    row = await pool.fetchrow("SELECT status, exception FROM payments")
    assert (row["status"], row["exception"]) == ("confirmed", None)
    assert await pool.fetchval(BY_HAND) == 0


async def test_a_confirmed_payment_offers_a_refund(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, _store, _csrf = shop
    payment = await pay(api, headers)
    await pool.execute("UPDATE payments SET status = 'confirmed', confirmed_at = now(), "
                       "amount_received = amount_due")
    page = await (await api.get(f"/dashboard/payments/{payment['id']}")).text()
    assert f'href="/dashboard/payments/{payment["id"]}/refund"' in page
    assert 'id="cancel-form"' not in page
    assert 'id="settle-form"' not in page


async def test_another_stores_payment_is_a_404(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    _headers, _store, csrf = shop
    theirs, _other = await make_store(pool, "other-shop")
    payment = await pay(api, theirs)
    for path in (f"/dashboard/payments/{payment['id']}",
                 f"/dashboard/payments/{payment['id']}/events", "/dashboard/payments/nope"):
        resp = await api.get(path)
        assert resp.status == 404, path
    resp = await post_form(api, f"/dashboard/payments/{payment['id']}/cancel", csrf)
    assert resp.status == 404
    assert (await listed(api, f"?q={payment['id']}"))[0] == []
    assert await pool.fetchval("SELECT status FROM payments") == "pending"


async def test_the_live_stream_sends_the_payments_version(
        api: TestClient, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, _store, _csrf = shop
    payment = await pay(api, headers)
    page = await (await api.get(f"/dashboard/payments/{payment['id']}")).text()
    version = html.unescape(re.search(r'data-version="([^"]*)"', page).group(1))  # type: ignore[union-attr]
    assert version.startswith("pending|-|0|0|")
    resp = await api.get(f"/dashboard/payments/{payment['id']}/events")
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    async for line in resp.content:
        if line.startswith(b"data: "):
            assert line.decode().strip() == f"data: {version}"
            break
    resp.close()
