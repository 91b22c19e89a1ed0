"""Signing in to the dashboard: the session, its cookie, CSRF, expiry, sign out, the operator's
store switcher and sign-in rate limiting, over HTTP against real PostgreSQL."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from paywatch.services.keys import create_key
from tests.conftest import api_client, make_store
from tests.dashboard.helpers import fields, key_of, post_form, sign_in

COOKIE = "paywatch_session"


async def test_a_visitor_is_sent_to_sign_in_and_the_page_is_locked_down(
        api: TestClient) -> None:
    answer = await api.get("/dashboard/payments?status=pending", allow_redirects=False)
    assert answer.status == 303
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/dashboard/sign-in"
    assert parse_qs(location.query)["next"] == ["/dashboard/payments?status=pending"]
    page = await api.get("/dashboard/sign-in")
    assert page.status == 200
    text = await page.text()
    assert '<label for="api_key">API key</label>' in text
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"


async def test_signing_in_opens_a_server_side_session_and_audits_it(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    page = await api.get("/dashboard/sign-in?next=/dashboard/payments")
    answer = await api.post("/dashboard/sign-in", allow_redirects=False, data={
        "csrf": fields(await page.text())["csrf"], "api_key": key_of(headers),
        "next": "/dashboard/payments"})
    assert answer.status == 303
    assert answer.headers["Location"] == "/dashboard/payments"
    cookie = answer.cookies[COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert not cookie["secure"]                      # the public URL is not https here
    assert cookie["path"] == "/dashboard"
    row = await pool.fetchrow("SELECT * FROM dashboard_sessions")
    assert bytes(row["token_hash"]) == hashlib.sha256(cookie.value.encode()).digest()
    assert cookie.value not in str(dict(row))        # only its hash is kept
    audit = await pool.fetchrow(
        "SELECT * FROM audit_log WHERE action = 'dashboard.sign_in'")
    assert audit["actor"] == f"key:{row['key_id']}"
    assert audit["store_id"] == store["id"]
    home = await api.get("/dashboard")
    assert home.status == 200
    assert 'id="store-name">Shop<' in await home.text()


async def test_a_wrong_key_is_refused_audited_and_never_echoed(
        api: TestClient, pool: asyncpg.Pool) -> None:
    page = await api.get("/dashboard/sign-in")
    wrong = "pw_live_" + "x" * 43
    answer = await api.post("/dashboard/sign-in", allow_redirects=False, data={
        "csrf": fields(await page.text())["csrf"], "api_key": wrong})
    assert answer.status == 401
    text = await answer.text()
    assert "unknown, revoked or expired" in text
    assert wrong not in text
    assert COOKIE not in answer.cookies
    assert await pool.fetchval("SELECT count(*) FROM dashboard_sessions") == 0
    refused = await pool.fetchrow(
        "SELECT * FROM audit_log WHERE action = 'dashboard.sign_in_refused'")
    assert refused["object_id"] == "pw_live_xxxxxx"
    assert wrong not in str(dict(refused))


async def test_a_sign_in_without_its_form_token_is_refused(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    answer = await api.post("/dashboard/sign-in", allow_redirects=False,
                            data={"csrf": "forged-" * 8, "api_key": key_of(headers)})
    assert answer.status == 403
    assert await pool.fetchval("SELECT count(*) FROM dashboard_sessions") == 0


async def test_sign_in_attempts_are_rate_limited_per_client(pool: asyncpg.Pool) -> None:
    async with api_client(pool, dashboard_sign_ins_per_minute=2) as client:
        csrf = fields(await (await client.get("/dashboard/sign-in")).text())["csrf"]
        statuses = []
        for _ in range(3):
            answer = await client.post("/dashboard/sign-in", allow_redirects=False,
                                       data={"csrf": csrf, "api_key": "pw_live_nope"})
            statuses.append(answer.status)
        assert statuses == [401, 401, 429]
        assert "too many sign-in attempts" in await answer.text()
    assert await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'dashboard.sign_in_refused'") == 2


async def test_a_post_without_the_session_csrf_token_changes_nothing(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    await sign_in(api, key_of(headers))
    for csrf in (None, "not-the-token-" * 3):
        answer = await post_form(api, "/dashboard/sign-out", csrf)
        assert answer.status == 403
        assert 'data-code="csrf_token_invalid"' in await answer.text()
    assert await pool.fetchval(
        "SELECT count(*) FROM dashboard_sessions WHERE ended_at IS NULL") == 1
    assert (await api.get("/dashboard", allow_redirects=False)).status == 200


async def test_sign_out_ends_the_session_in_the_database(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    csrf = await sign_in(api, key_of(headers))
    token = api.session.cookie_jar.filter_cookies(api.make_url("/dashboard"))[COOKIE].value
    answer = await post_form(api, "/dashboard/sign-out", csrf)
    assert answer.status == 303
    assert answer.headers["Location"] == "/dashboard/sign-in?notice=signed_out"
    assert await pool.fetchval(
        "SELECT ended_at IS NOT NULL FROM dashboard_sessions") is True
    # A copy of the cookie kept elsewhere is dead too.
    api.session.cookie_jar.update_cookies({COOKIE: token}, api.make_url("/dashboard"))
    assert (await api.get("/dashboard", allow_redirects=False)).status == 303
    assert await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'dashboard.sign_out'") == 1


@pytest.mark.parametrize("expiry", [
    "last_seen_at = now() - interval '31 minutes'",      # idle longer than 30 min
    "expires_at = now() - interval '1 second'",          # past its absolute expiry
])
async def test_an_idle_or_old_session_is_over(api: TestClient, pool: asyncpg.Pool,
                                              expiry: str) -> None:
    headers, _store = await make_store(pool, "shop")
    await sign_in(api, key_of(headers))
    await pool.execute(f"UPDATE dashboard_sessions SET {expiry}, "
                       "created_at = now() - interval '1 day'")
    answer = await api.get("/dashboard", allow_redirects=False)
    assert answer.status == 303
    assert answer.headers["Location"].startswith("/dashboard/sign-in")


async def test_revoking_the_key_ends_its_sessions(api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    await sign_in(api, key_of(headers))
    await pool.execute("UPDATE api_keys SET revoked_at = now()")
    assert (await api.get("/dashboard", allow_redirects=False)).status == 303


async def test_the_cookie_is_secure_behind_an_https_public_url(pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    async with api_client(pool, public_url="https://pay.example.com") as client:
        page = await client.get("/dashboard/sign-in")
        form_cookie = page.cookies["paywatch_sign_in"]
        assert form_cookie["secure"]
        # The test server is plain http, so its client keeps Secure cookies to itself: send
        # the form's cookie by hand.
        answer = await client.post(
            "/dashboard/sign-in", allow_redirects=False,
            headers={"Cookie": f"paywatch_sign_in={form_cookie.value}"},
            data={"csrf": fields(await page.text())["csrf"], "api_key": key_of(headers)})
        assert answer.status == 303
        assert answer.cookies[COOKIE]["secure"]


async def test_an_operator_chooses_a_store_and_a_store_key_cannot(
        api: TestClient, pool: asyncpg.Pool) -> None:
    shop_headers, _shop = await make_store(pool, "shop")
    await make_store(pool, "other-shop")
    async with pool.acquire() as conn:
        operator, _row = await create_key(conn, None, "ops", ["admin"], "test")
    csrf = await sign_in(api, operator)
    stores = await api.get("/dashboard", allow_redirects=False)
    assert stores.headers["Location"] == "/dashboard/stores"   # no store chosen yet
    text = await (await api.get("/dashboard/stores")).text()
    assert "Other-Shop" in text
    assert "Shop" in text
    chosen = await post_form(api, "/dashboard/stores/switch", csrf, store="other-shop")
    assert chosen.status == 303
    assert 'id="store-name">Other-Shop<' in await (await api.get("/dashboard")).text()

    api.session.cookie_jar.clear()
    csrf = await sign_in(api, key_of(shop_headers))
    refused = await post_form(api, "/dashboard/stores/switch", csrf, store="other-shop")
    assert refused.status == 404
    assert 'id="store-name">Shop<' in await (await api.get("/dashboard")).text()


async def test_an_unknown_dashboard_page_is_an_html_404(api: TestClient,
                                                        pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    await sign_in(api, key_of(headers))
    answer = await api.get("/dashboard/no/such/page")
    assert answer.status == 404
    assert answer.content_type == "text/html"


async def test_sessions_over_for_a_week_are_purged_and_live_ones_kept(
        api: TestClient, pool: asyncpg.Pool) -> None:
    from paywatch.services.sweeps import purge_sessions

    headers, _store = await make_store(pool, "shop")
    for _ in range(3):
        api.session.cookie_jar.clear()
        await sign_in(api, key_of(headers))
    await pool.execute(
        "UPDATE dashboard_sessions SET ended_at = now() - interval '8 days' WHERE token_hash IN "
        "(SELECT token_hash FROM dashboard_sessions ORDER BY created_at LIMIT 2)")
    assert await purge_sessions(pool, size=1) == 2
    assert await pool.fetchval("SELECT count(*) FROM dashboard_sessions") == 1
    assert (await api.get("/dashboard", allow_redirects=False)).status == 200  # the live one


async def test_the_dashboard_says_503_with_retry_after_while_the_database_is_down() -> None:
    from db.pool import create_pool
    from tests.conftest import free_port

    pool = await create_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/none", min_size=0)
    try:
        async with api_client(pool) as client:
            page = await client.get("/dashboard/sign-in")     # needs no database
            csrf = fields(await page.text())["csrf"]
            tried = await client.post("/dashboard/sign-in", data={
                "csrf": csrf, "api_key": "pw_live_" + "a" * 43})
            client.session.cookie_jar.update_cookies({COOKIE: "some-session"},
                                                     client.make_url("/dashboard"))
            viewed = await client.get("/dashboard")
            for answer in (tried, viewed):
                assert answer.status == 503
                assert int(answer.headers["Retry-After"]) >= 1
                assert answer.content_type == "text/html"
                assert "database is unavailable" in await answer.text()
    finally:
        await pool.close()
