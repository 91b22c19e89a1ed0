"""The dashboard's refunds over HTTP: the list (status filter, keyset pages), a payment's refund
form (an amount in the coin or in fiat, rate, destination, reason, expiry) creating the refund
through the API's own work once per form, refusals as pages that keep what was typed, a refund's
page (facts, its QR code from a session route, request URL, live version stream), cancel, another
store's refund a 404, and a read-only key without actions."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.dashboard import refunds as refunds_area
from paywatch.services.keys import create_key
from tests.api.test_refunds import CUSTOMER, create, paid
from tests.conftest import make_store
from tests.dashboard.helpers import fields, key_of, post_form, sign_in

REFUND = re.compile(r'href="/dashboard/refunds/([0-9a-f-]{36})"')


@pytest.fixture
async def shop(api: TestClient, pool: asyncpg.Pool) -> tuple[dict[str, str], Any, str]:
    headers, store = await make_store(pool, "shop")
    return headers, store, await sign_in(api, key_of(headers))


async def make(api: TestClient, csrf: str, payment_id: str, form_id: str | None = None,
               **form: str) -> Any:
    return await post_form(api, f"/dashboard/payments/{payment_id}/refund", csrf, form_id,
                           **{"rate": "quote", "expires_in": "86400", **form})


async def refunds(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM refunds ORDER BY created_at, id")


async def test_the_form_creates_a_refund_in_the_coin_once_per_form(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, _store, csrf = shop
    pay = await paid(api, pool, headers)
    form = await api.get(f"/dashboard/payments/{pay['id']}/refund")
    assert form.status == 200
    text = await form.text()
    assert '<label for="amount_coin">Amount in SOL</label>' in text
    assert '<label for="fiat_amount">Or an amount in USD</label>' in text
    assert 'id="left">0.2 SOL' in text
    form_id = fields(text)["form_id"]
    for _ in range(2):    # a double submit of the same form makes one refund
        done = await make(api, csrf, pay["id"], form_id, amount_coin="0.05",
                          reason="a broken mug", expires_in="3600")
        assert done.status == 303
    [row] = await refunds(pool)
    key_id = await pool.fetchval("SELECT id FROM api_keys")
    assert (row["amount"], row["destination"], row["created_by"], row["reason"]) == (
        50_000_000, CUSTOMER, f"key:{key_id}", "a broken mug")
    assert (row["expires_at"] - row["created_at"]).total_seconds() == pytest.approx(3600, abs=5)
    assert done.headers["Location"] == f"/dashboard/refunds/{row['id']}?notice=created"

    page = await api.get(done.headers["Location"])
    text = await page.text()
    assert "Refund created" in text
    assert 'data-status="pending"' in text
    assert f'src="/dashboard/refunds/{row["id"]}/qr.svg"' in text
    assert f'href="{html.escape(row["payment_url"])}"' in text
    assert "0.05 SOL" in text
    assert f'data-live="/dashboard/refunds/{row["id"]}/events"' in text
    assert f'href="/dashboard/payments/{pay["id"]}"' in text
    qr = await api.get(f"/dashboard/refunds/{row['id']}/qr.svg")
    assert qr.status == 200
    assert qr.content_type == "image/svg+xml"
    assert (await qr.read()).startswith(b"<?xml")


async def test_a_fiat_refund_at_the_quote_and_the_forms_refusals(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, _store, csrf = shop
    pay = await paid(api, pool, headers)
    for form, status, code in (
            ({"amount_coin": "0.1", "fiat_amount": "1.00"}, 422, "parameter_invalid"),
            ({}, 422, "parameter_invalid"),
            ({"amount_coin": "1,5"}, 422, "parameter_invalid"),
            ({"amount_coin": "0"}, 422, "parameter_invalid"),
            ({"amount_coin": "9"}, 422, "amount_too_large"),
            ({"amount_coin": "0.1", "destination": "not-an-address"}, 422,
             "destination_invalid"),
            ({"fiat_amount": "1.00", "expires_in": "forever"}, 422, "parameter_invalid")):
        answer = await make(api, csrf, pay["id"], reason="kept reason", **form)
        assert answer.status == status, (form, await answer.text())
        text = await answer.text()
        assert f'data-code="{code}"' in text, form
        assert ">kept reason</textarea>" in text
        for value in form.values():
            assert f'value="{value}"' in text or value == "forever"
    assert await refunds(pool) == []
    done = await make(api, csrf, pay["id"], fiat_amount="15.00")
    assert done.status == 303
    [row] = await refunds(pool)
    assert (row["rate"], row["fiat_amount"], row["amount"]) == ("quote", 15, 100_000_000)


async def test_a_payment_that_received_nothing_has_no_form_and_others_are_404(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, _store, csrf = shop
    unpaid = await create(api, headers)
    text = await (await api.get(f"/dashboard/payments/{unpaid['id']}/refund")).text()
    assert 'id="not-refundable"' in text
    assert 'id="refund-form"' not in text
    refused = await make(api, csrf, unpaid["id"], amount_coin="0.1")
    assert refused.status == 409
    theirs = await paid(api, pool, (await make_store(pool, "other-shop"))[0])
    for path in (f"/dashboard/payments/{theirs['id']}/refund", "/dashboard/payments/x/refund"):
        assert (await api.get(path)).status == 404
    assert (await make(api, csrf, theirs["id"], amount_coin="0.1")).status == 404
    assert await refunds(pool) == []


async def test_the_list_pages_and_filters_and_a_pending_refund_is_cancelled_once(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    headers, _store, csrf = shop
    pay = await paid(api, pool, headers)
    for _ in range(3):
        assert (await make(api, csrf, pay["id"], amount_coin="0.01")).status == 303
    made = [str(r["id"]) for r in reversed(await refunds(pool))]
    text = await (await api.get("/dashboard/refunds")).text()
    assert REFUND.findall(text) == made
    assert "0.01 SOL" in text
    monkeypatch.setattr(refunds_area, "PAGE", 2)
    more = re.search(r'href="/dashboard/refunds(\?cursor=[^"]+)" rel="next"', text := await (
        await api.get("/dashboard/refunds")).text())
    assert REFUND.findall(text) == made[:2]
    assert more is not None
    assert REFUND.findall(await (await api.get(f"/dashboard/refunds{more.group(1)}")).text()) \
        == made[2:]
    monkeypatch.undo()

    path = f"/dashboard/refunds/{made[0]}"
    form_id = fields((await (await api.get(path)).text()).split('id="cancel-form"')[1])
    for _ in range(2):
        done = await post_form(api, f"{path}/cancel", csrf, form_id["form_id"],
                               reason="wrong amount")
        assert done.status == 303
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'refund.cancelled'") == 1
    text = await (await api.get(done.headers["Location"])).text()
    assert "The refund is cancelled" in text
    assert 'id="cancel-form"' not in text
    again = await post_form(api, f"{path}/cancel", csrf, reason="typed again")
    assert again.status == 409
    assert 'data-code="refund_not_cancellable"' in await again.text()
    listed = await (await api.get("/dashboard/refunds?status=cancelled")).text()
    assert REFUND.findall(listed) == [made[0]]
    assert (await api.get("/dashboard/refunds?status=gone")).status == 422


async def test_the_live_stream_sends_the_refunds_version(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, _store, csrf = shop
    pay = await paid(api, pool, headers)
    assert (await make(api, csrf, pay["id"], amount_coin="0.01")).status == 303
    [row] = await refunds(pool)
    stream = await api.get(f"/dashboard/refunds/{row['id']}/events")
    assert stream.content_type == "text/event-stream"
    lines = []
    while not any(line.startswith("data:") for line in lines):
        lines.append((await stream.content.readline()).decode().strip())
    stream.close()
    assert "data: pending;" in lines


async def test_another_stores_refund_is_a_404_and_a_reader_cannot_act(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    other_headers, _other = await make_store(pool, "other-shop")
    theirs_pay = await paid(api, pool, other_headers)
    resp = await api.post(f"/v1/payments/{theirs_pay['id']}/refunds", headers=other_headers,
                          json={"amount": "1000"})
    theirs = (await resp.json())["id"]
    mine_pay = await paid(api, pool, headers)
    resp = await api.post(f"/v1/payments/{mine_pay['id']}/refunds", headers=headers,
                          json={"amount": "1000"})
    mine = (await resp.json())["id"]
    csrf = await sign_in(api, key_of(headers))
    for suffix in ("", "/qr.svg", "/events"):
        assert (await api.get(f"/dashboard/refunds/{theirs}{suffix}")).status == 404
    assert (await post_form(api, f"/dashboard/refunds/{theirs}/cancel", csrf)).status == 404
    assert (await api.get(f"/dashboard/refunds/{uuid.uuid4()}")).status == 404

    async with pool.acquire() as conn:
        reader, _row = await create_key(conn, store["id"], "finance", ["payments:read"], "test")
    api.session.cookie_jar.clear()
    csrf = await sign_in(api, reader)
    text = await (await api.get(f"/dashboard/refunds/{mine}")).text()
    assert 'id="cancel-form"' not in text
    assert "<button" not in text.split('id="main"')[1]
    assert (await api.get(f"/dashboard/payments/{mine_pay['id']}/refund")).status == 403
    assert (await post_form(api, f"/dashboard/refunds/{mine}/cancel", csrf)).status == 403
    assert await pool.fetchval("SELECT status FROM refunds WHERE id = $1",
                               uuid.UUID(mine)) == "pending"
