"""The dashboard's inbox over HTTP: the list (state, chain and asset filters, keyset pages, one
store's entries only), a transfer's page (facts, explorer link, why it was not matched), the
payment search for an assign (by id, order number, amount in the coin or in fiat; only the
transfer's chain and asset; open ones first), and assign and dismiss through the API's own
work: a double submit acts once, refusals (404, 409, 422) are pages that keep what was typed,
another store's transfer is a 404, and a read-only key sees no action."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.dashboard import inbox as inbox_area
from paywatch.services.keys import create_key
from tests.api.test_inbox import pay, unmatched
from tests.conftest import USDC_MINT, make_store
from tests.dashboard.helpers import fields, key_of, post_form, sign_in

ENTRY = re.compile(r'href="/dashboard/inbox/(\d+)"')
CANDIDATE = re.compile(r'name="payment_id" value="([0-9a-f-]{36})"')


@pytest.fixture
async def shop(api: TestClient, pool: asyncpg.Pool) -> tuple[dict[str, str], Any, str]:
    headers, store = await make_store(pool, "shop")
    return headers, store["id"], await sign_in(api, key_of(headers))


async def listed(api: TestClient, query: str = "") -> list[int]:
    page = await api.get(f"/dashboard/inbox{query}")
    assert page.status == 200, await page.text()
    return [int(i) for i in ENTRY.findall(await page.text())]


async def candidates(api: TestClient, transfer_id: int, q: str = "") -> tuple[int, str, list]:
    page = await api.get(f"/dashboard/inbox/{transfer_id}", params={"q": q} if q else None)
    text = await page.text()
    return page.status, text, CANDIDATE.findall(text)


async def events(pool: asyncpg.Pool, type_: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM events WHERE type = $1", type_))


async def test_the_list_filters_and_pages_one_stores_entries(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _headers, store_id, _csrf = shop
    sol = [await unmatched(pool, store_id, 1000 + n) for n in range(3)]
    usdc = await unmatched(pool, store_id, 5_000_000, asset="USDC", mint=USDC_MINT)
    gone = await unmatched(pool, store_id, 9)
    await pool.execute("UPDATE transfers SET resolution = 'dismissed', resolved_at = now(), "
                       "resolution_note = 'test' WHERE id = $1", gone)
    other = (await make_store(pool, "other-shop"))[1]
    await unmatched(pool, other["id"], 1)

    assert await listed(api) == [usdc, *reversed(sol)]
    text = await (await api.get("/dashboard/inbox")).text()
    assert "0.000001 SOL" in text
    assert "5 USDC" in text
    assert "no reference of ours" in text
    assert await listed(api, "?state=dismissed") == [gone]
    assert await listed(api, "?state=all&asset=usdc") == [usdc]
    assert await listed(api, "?chain=solana&asset=SOL&state=open") == list(reversed(sol))
    monkeypatch.setattr(inbox_area, "PAGE", 2)
    first = await api.get("/dashboard/inbox?asset=SOL")
    more = re.search(r'href="/dashboard/inbox(\?[^"]+)" rel="next"', await first.text())
    assert more is not None
    assert "asset=SOL" in more.group(1)
    assert await listed(api, more.group(1).replace("&amp;", "&")) == [sol[0]]
    for bad in ("?state=lost", "?cursor=x", "?chain=Not%20a%20chain"):
        assert (await api.get(f"/dashboard/inbox{bad}")).status == 422


async def test_a_transfer_page_explains_it_and_finds_candidate_payments(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, store_id, _csrf = shop
    order = await (await api.post("/v1/orders", headers=headers, json={
        "customer": {"email": "ada@example.com"}, "currency": "USD",
        "items": [{"sku": "A", "name": "A", "quantity": 1, "unit_price": "30"}]})).json()
    ordered = await pay(api, headers, order_id=order["id"], amount=None, currency=None)
    near = await pay(api, headers)
    far = await pay(api, headers, amount="90.00")
    usdc = await pay(api, headers, asset="USDC")
    closed = await pay(api, headers)
    await api.post(f"/v1/payments/{closed['id']}/cancel", json={}, headers=headers)
    entry = await unmatched(pool, store_id, int(near["amount_due"]),
                            reason="no reference and the store does not match by amount")
    status, text, found = await candidates(api, entry)
    assert status == 200
    tx_id = await pool.fetchval("SELECT tx_id FROM transfers WHERE id = $1", entry)
    assert f"https://explorer.solana.com/tx/{tx_id}" in text
    assert "no reference and the store does not match by amount" in text
    assert "0.2 SOL" in text
    # Without a search: the open SOL payments, the nearest amounts first; not USDC, not closed.
    assert found[2:] == [far["id"]]
    assert set(found[:2]) == {ordered["id"], near["id"]}
    assert usdc["id"] not in found
    assert closed["id"] not in found

    assert (await candidates(api, entry, far["id"]))[2] == [far["id"]]
    assert (await candidates(api, entry, order["number"].lower()))[2] == [ordered["id"]]
    by_amount = (await candidates(api, entry, "0.2"))[2]     # the open ones first
    assert set(by_amount[:2]) == {ordered["id"], near["id"]}
    assert by_amount[2:] == [closed["id"]]
    assert (await candidates(api, entry, "90.00"))[2] == [far["id"]]       # fiat
    assert (await candidates(api, entry, usdc["id"]))[2] == []             # another asset
    # A closed payment is found by a search, shown as unable to take it (a disabled choice).
    status, text, found = await candidates(api, entry, closed["id"])
    assert found == [closed["id"]]
    assert "cannot take a transfer" in text
    assert " disabled" in text
    status, text, _ = await candidates(api, entry, "who knows")
    assert status == 422
    assert 'value="who knows"' in text
    assert "search by a payment id" in text


async def test_assign_acts_once_per_form_and_settles_the_payment(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, store_id, csrf = shop
    payment = await pay(api, headers)
    entry = await unmatched(pool, store_id, int(payment["amount_due"]))
    path = f"/dashboard/inbox/{entry}"
    form_id = fields((await candidates(api, entry))[1])["form_id"]
    assert fields((await candidates(api, entry))[1])["csrf"] == csrf
    for _ in range(2):   # a double submit of the same rendered form
        done = await post_form(api, f"{path}/assign", csrf, form_id,
                               payment_id=payment["id"], note="the customer wrote in", q="")
        assert done.status == 303
        assert done.headers["Location"] == f"{path}?notice=assigned"
    assert await events(pool, "transfer.assigned") == 1
    row = await pool.fetchrow("SELECT * FROM transfers WHERE id = $1", entry)
    key_id = await pool.fetchval("SELECT id FROM api_keys")
    assert (row["payment_id"], row["resolved_by"], row["resolution_note"]) == (
        uuid.UUID(payment["id"]), f"key:{key_id}", "the customer wrote in")
    assert await pool.fetchval("SELECT status FROM payments WHERE id = $1",
                               uuid.UUID(payment["id"])) == "confirmed"
    text = await (await api.get(f"{path}?notice=assigned")).text()
    assert f'href="/dashboard/payments/{payment["id"]}"' in text
    assert "Assigned: the payment now counts this transfer" in text
    assert 'id="assign-form"' not in text
    assert 'id="dismiss-form"' not in text

    # Another form for another payment: the API's 409, on the page, with what was typed.
    other = await pay(api, headers)
    refused = await post_form(api, f"{path}/assign", csrf, payment_id=other["id"],
                              note="second thoughts", q=other["id"])
    assert refused.status == 409
    text = await refused.text()
    assert 'data-code="transfer_already_assigned"' in text
    assert f"already assigned to payment {payment['id']}" in text
    assert await events(pool, "transfer.assigned") == 1


async def test_assign_refusals_are_pages_that_keep_the_form(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    headers, store_id, csrf = shop
    entry = await unmatched(pool, store_id, 1234)
    path = f"/dashboard/inbox/{entry}/assign"
    usdc = await pay(api, headers, asset="USDC")
    await pay(api, headers)            # a SOL payment: the search finds it, the form shows
    theirs = await pay(api, (await make_store(pool, "other-shop"))[0])
    for payment_id, status, code in ((usdc["id"], 422, "asset_mismatch"),
                                     (theirs["id"], 404, "resource_missing"),
                                     ("", 422, "parameter_missing"),
                                     ("not-an-id", 422, "parameter_invalid")):
        answer = await post_form(api, path, csrf, payment_id=payment_id, note="kept note",
                                 q="0.2")
        assert answer.status == status, (payment_id, await answer.text())
        text = await answer.text()
        assert f'data-code="{code}"' in text
        assert ">kept note</textarea>" in text
        assert 'value="0.2"' in text
        assert 'id="assign-form"' in text           # the form again, to try another
    assert await pool.fetchval("SELECT resolution FROM transfers WHERE id = $1", entry) is None


async def test_dismiss_needs_a_reason_and_acts_once(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any, str]) -> None:
    _headers, store_id, csrf = shop
    entry = await unmatched(pool, store_id, 4242)
    path = f"/dashboard/inbox/{entry}/dismiss"
    empty = await post_form(api, path, csrf, reason="   ")
    assert empty.status == 422
    assert "say why this transfer pays nothing" in await empty.text()
    form_id = fields((await candidates(api, entry))[1].split('id="dismiss-form"')[1])
    for _ in range(2):
        done = await post_form(api, path, csrf, form_id.get("form_id"),
                               reason="the owner's own top-up")
        assert done.status == 303
    assert await events(pool, "transfer.dismissed") == 1
    text = await (await api.get(done.headers["Location"])).text()
    assert "Dismissed: this transfer pays nothing" in text
    assert "the owner&#39;s own top-up" in text
    assert await listed(api) == []
    assert await listed(api, "?state=dismissed") == [entry]


async def test_another_stores_transfer_is_a_404_and_a_reader_sees_no_action(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    other = (await make_store(pool, "other-shop"))[1]
    theirs = await unmatched(pool, other["id"], 77)
    mine = await unmatched(pool, store["id"], 78)
    payment = await pay(api, headers)
    async with pool.acquire() as conn:
        reader, _row = await create_key(conn, store["id"], "finance", ["payments:read"], "test")
    csrf = await sign_in(api, key_of(headers))
    assert (await api.get(f"/dashboard/inbox/{theirs}")).status == 404
    assert (await api.get("/dashboard/inbox/12abc")).status == 404
    for action, data in (("assign", {"payment_id": payment["id"]}), ("dismiss",
                                                                     {"reason": "mine"})):
        answer = await post_form(api, f"/dashboard/inbox/{theirs}/{action}", csrf, **data)
        assert answer.status == 404
    assert await pool.fetchval("SELECT resolution FROM transfers WHERE id = $1", theirs) is None

    api.session.cookie_jar.clear()
    csrf = await sign_in(api, reader)
    text = await (await api.get(f"/dashboard/inbox/{mine}")).text()
    assert 'id="assign-form"' not in text
    assert 'id="dismiss-form"' not in text
    assert "<button" not in text.split('id="main"')[1]
    forged = await post_form(api, f"/dashboard/inbox/{mine}/dismiss", csrf, reason="forged")
    assert forged.status == 403
    assert await pool.fetchval("SELECT resolution FROM transfers WHERE id = $1", mine) is None
