"""The dashboard's webhooks: endpoints with their health, add (the secret shown once) and remove,
failing deliveries and redeliver, over HTTP against real PostgreSQL, through the API's work."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from db import events, webhooks
from tests.conftest import make_store
from tests.dashboard.helpers import fields, key_of, post_form, sign_in

PUBLIC = "https://1.1.1.1/paywatch-hook"     # a public address: the SSRF policy lets it pass


async def _endpoint(pool: asyncpg.Pool, store: asyncpg.Record, url: str = PUBLIC
                    ) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await webhooks.insert_endpoint(conn, store["id"], url, "whsec_test", None, ["*"])


async def _failing_event(pool: asyncpg.Pool, store: asyncpg.Record, type_: str = "order.paid",
                         status: str = "failed") -> Any:
    """An event whose delivery to every endpoint of the store failed (`status`: failed, gave
    up; pending, retrying)."""
    async with pool.acquire() as conn:
        event = await events.emit(conn, store_id=store["id"], type_=type_, data={"n": 1})
        await webhooks.fan_out(conn, datetime.now(UTC), 100)
        await conn.execute(
            "UPDATE webhook_deliveries SET status = $2, attempts = 3, last_status_code = 500,"
            " last_error = 'HTTP 500' WHERE event_id = $1", event["id"], status)
    return event["id"]


async def test_adding_an_endpoint_shows_its_secret_once_and_audits_it(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    csrf = await sign_in(api, key_of(headers))
    page = await api.get("/dashboard/webhooks")
    assert page.status == 200
    form_id = fields(await page.text())["form_id"]
    answer = await post_form(api, "/dashboard/webhooks", csrf, form_id, url=PUBLIC,
                             description="shop backend", event_types="payment.confirmed")
    assert answer.status == 201
    text = await answer.text()
    secret = await pool.fetchval("SELECT secret FROM webhook_endpoints")
    assert secret.startswith("whsec_")
    assert f'value="{secret}"' in text
    row = await pool.fetchrow("SELECT * FROM webhook_endpoints")
    assert (row["url"], row["description"], row["event_types"]) == (
        PUBLIC, "shop backend", ["payment.confirmed"])
    audit = await pool.fetchrow(
        "SELECT * FROM audit_log WHERE action = 'webhook_endpoint.create'")
    key_id = await pool.fetchval("SELECT id FROM api_keys")
    assert (audit["actor"], audit["store_id"]) == (f"key:{key_id}", store["id"])
    # Never again: not on the list, not on a double submit of the same form.
    listed = await (await api.get("/dashboard/webhooks")).text()
    assert secret not in listed
    assert PUBLIC in listed
    again = await post_form(api, "/dashboard/webhooks", csrf, form_id, url=PUBLIC,
                            description="shop backend", event_types="payment.confirmed")
    assert again.status == 303
    assert again.headers["Location"] == "/dashboard/webhooks?notice=created_before"
    assert await pool.fetchval("SELECT count(*) FROM webhook_endpoints") == 1
    stored = await pool.fetchval("SELECT response_body::text FROM idempotency_keys")
    assert secret not in stored


async def test_a_url_the_ssrf_policy_refuses_is_a_422_that_keeps_what_was_typed(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    csrf = await sign_in(api, key_of(headers))
    answer = await post_form(api, "/dashboard/webhooks", csrf,
                             url="http://127.0.0.1:9999/internal", description="mine",
                             event_types="order.paid")
    assert answer.status == 422
    text = await answer.text()
    assert 'data-code="url_not_allowed"' in text
    assert 'value="http://127.0.0.1:9999/internal"' in text
    assert 'value="mine"' in text
    assert re.search(r'value="order.paid" checked', text)
    invalid = await post_form(api, "/dashboard/webhooks", csrf, url="ftp://files.example/x")
    assert invalid.status == 422
    assert 'value="ftp://files.example/x"' in await invalid.text()
    assert await pool.fetchval("SELECT count(*) FROM webhook_endpoints") == 0


async def test_removing_an_endpoint_and_another_stores_is_a_404(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    _other_headers, other = await make_store(pool, "other-shop")
    mine, theirs = await _endpoint(pool, store), await _endpoint(pool, other)
    csrf = await sign_in(api, key_of(headers))
    foreign = await post_form(api, f"/dashboard/webhooks/{theirs['id']}/delete", csrf)
    assert foreign.status == 404
    assert await pool.fetchval("SELECT count(*) FROM webhook_endpoints") == 2
    gone = await post_form(api, f"/dashboard/webhooks/{mine['id']}/delete", csrf)
    assert gone.status == 303
    assert gone.headers["Location"] == "/dashboard/webhooks?notice=deleted"
    assert await pool.fetchval("SELECT count(*) FROM webhook_endpoints") == 1
    assert await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'webhook_endpoint.delete'") == 1


async def test_a_read_only_key_sees_no_actions_and_a_forged_post_changes_nothing(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop", scopes=["payments:read", "webhooks:read"])
    endpoint = await _endpoint(pool, store)
    event_id = await _failing_event(pool, store)
    csrf = await sign_in(api, key_of(headers))
    page = await (await api.get("/dashboard/webhooks")).text()
    assert "Add an endpoint" not in page
    assert "/delete" not in page
    failing = await (await api.get("/dashboard/webhooks/failing")).text()
    assert str(event_id) in failing
    assert "/redeliver" not in failing
    before = await pool.fetch("SELECT * FROM webhook_deliveries ORDER BY id")
    for path, data in ((f"/dashboard/webhooks/{endpoint['id']}/delete", {}),
                       ("/dashboard/webhooks", {"url": PUBLIC}),
                       (f"/dashboard/events/{event_id}/redeliver", {})):
        forged = await post_form(api, path, csrf, **data)
        assert forged.status == 403, path
    assert await pool.fetchval("SELECT count(*) FROM webhook_endpoints") == 1
    assert await pool.fetch("SELECT * FROM webhook_deliveries ORDER BY id") == before


async def test_the_health_column_and_the_failing_list_newest_first_paged(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    await _endpoint(pool, store)
    ids = [await _failing_event(pool, store, status="failed" if n % 2 else "pending")
           for n in range(27)]
    async with pool.acquire() as conn:     # a delivered event is not failing
        ok = await events.emit(conn, store_id=store["id"], type_="order.paid", data={})
        await webhooks.fan_out(conn, datetime.now(UTC), 100)
        await conn.execute("UPDATE webhook_deliveries SET status = 'delivered', attempts = 1, "
                           "delivered_at = now(), last_status_code = 200 WHERE event_id = $1",
                           ok["id"])
    await sign_in(api, key_of(headers))
    listing = await (await api.get("/dashboard/webhooks")).text()
    assert "27 failing deliveries" in listing
    assert 'data-status="ok">delivered</span> HTTP 200' in listing
    first = await (await api.get("/dashboard/webhooks/failing")).text()
    shown = re.findall(r'<tr data-event="([^"]+)"', first)
    assert shown == [str(i) for i in reversed(ids)][:25]
    assert "gave up" in first
    assert "retrying" in first
    cursor = re.search(r'failing\?cursor=(\d+)" rel="next"', first)
    assert cursor is not None
    second = await (await api.get(f"/dashboard/webhooks/failing?cursor={cursor[1]}")).text()
    assert re.findall(r'<tr data-event="([^"]+)"', second) == [str(ids[1]), str(ids[0])]
    assert 'rel="next"' not in second
    bad = await api.get("/dashboard/webhooks/failing?cursor=abc")
    assert bad.status == 400


async def test_redeliver_runs_once_and_goes_back_where_it_was_asked(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    _other_headers, other = await make_store(pool, "other-shop")
    await _endpoint(pool, store)
    await _endpoint(pool, other)
    event_id = await _failing_event(pool, store)
    foreign_event = await _failing_event(pool, other)
    csrf = await sign_in(api, key_of(headers))
    path = f"/dashboard/events/{event_id}/redeliver"
    back = f"/dashboard/payments/{event_id}?tab=deliveries"
    answer = await post_form(api, path, csrf, "form-1", next=back)
    assert answer.status == 303
    assert answer.headers["Location"] == (f"/dashboard/payments/{event_id}?tab=deliveries"
                                          "&notice=redelivered")
    row = await pool.fetchrow("SELECT * FROM webhook_deliveries WHERE event_id = $1", event_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 0, None)
    # A double submit acts once (one audit row), whatever happened in between.
    await pool.execute("UPDATE webhook_deliveries SET status = 'failed' WHERE event_id = $1",
                       event_id)
    again = await post_form(api, path, csrf, "form-1", next=back)
    assert again.status == 303
    assert await pool.fetchval(
        "SELECT status FROM webhook_deliveries WHERE event_id = $1", event_id) == "failed"
    assert await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'event.redeliver'") == 1
    for unsafe in ("https://evil.example/", "//evil.example/dashboard", ""):
        elsewhere = await post_form(api, path, csrf, next=unsafe)
        assert elsewhere.headers["Location"] == "/dashboard/webhooks/failing?notice=redelivered"
    foreign = await post_form(api, f"/dashboard/events/{foreign_event}/redeliver", csrf)
    assert foreign.status == 404
    assert await pool.fetchval(
        "SELECT status FROM webhook_deliveries WHERE event_id = $1", foreign_event) == "failed"
    page = await api.get("/dashboard/webhooks/failing?notice=redelivered")
    assert "queued for delivery again" in await page.text()


async def test_the_api_still_answers_as_before_after_the_refactor(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    created = await api.post("/v1/webhook_endpoints", headers=headers, json={"url": PUBLIC})
    assert created.status == 201
    body = await created.json()
    assert body["secret"].startswith("whsec_")
    event_id = await _failing_event(pool, store)
    redone = await api.post(f"/v1/events/{event_id}/redeliver", headers=headers)
    assert redone.status == 200
    assert (await redone.json())["deliveries"][0]["status"] == "pending"
    deleted = await api.delete(f"/v1/webhook_endpoints/{body['id']}", headers=headers)
    assert deleted.status == 204
    assert (await api.delete(f"/v1/webhook_endpoints/{body['id']}", headers=headers)
            ).status == 404
