"""The dashboard's API keys: the list, create (the secret shown once, never stored, within the
creating key's scopes) and revoke (its store's keys within its scopes, never its own), through
paywatch/services/keys.py; revoking ends the key's dashboard sessions at once."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from paywatch.core.apikeys import hash_key
from paywatch.services.keys import create_key
from tests.conftest import make_store
from tests.dashboard.helpers import fields, key_of, post_form, sign_in

ALL_STORE_SCOPES = ["payments:read", "payments:write", "orders:read", "orders:write",
                    "webhooks:read", "webhooks:write"]


@asynccontextmanager
async def browser_session(api: TestClient, key: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A second browser (its own cookies) signed in with `key`."""
    async with aiohttp.ClientSession(base_url=str(api.make_url("/")),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        page = await other.get("/dashboard/sign-in")
        answer = await other.post("/dashboard/sign-in", allow_redirects=False, data={
            "csrf": fields(await page.text())["csrf"], "api_key": key, "next": "/dashboard"})
        assert answer.status == 303
        yield other


async def _key(pool: asyncpg.Pool, store_id: object, name: str, scopes: list[str]) -> str:
    async with pool.acquire() as conn:
        key, _row = await create_key(conn, store_id, name, scopes, "test")
    return key


async def test_a_new_key_is_shown_once_and_never_stored(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    csrf = await sign_in(api, key_of(headers))
    page = await (await api.get("/dashboard/keys")).text()
    assert "pw_live_" in page
    assert "this session's key" in page
    form_id = fields(page.split('id="create-key"')[1])["form_id"]
    answer = await api.post("/dashboard/keys", allow_redirects=False, data=[
        ("csrf", csrf), ("form_id", form_id), ("name", "backend"),
        ("scopes", "payments:read"), ("scopes", "orders:read")])
    assert answer.status == 201
    text = await answer.text()
    [secret] = re.findall(r'id="new-key" readonly value="(pw_live_\w+)"', text)
    row = await pool.fetchrow("SELECT * FROM api_keys WHERE name = 'backend'")
    assert bytes(row["key_hash"]) == hash_key(secret)
    assert (row["store_id"], row["scopes"]) == (store["id"], ["payments:read", "orders:read"])
    audit = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'api_key.create' "
                                "AND object_id = $1", str(row["id"]))
    signed_in_key = await pool.fetchval("SELECT id FROM api_keys WHERE name = 'test'")
    assert audit["actor"] == f"key:{signed_in_key}"
    for table in ("idempotency_keys", "audit_log", "dashboard_sessions"):
        assert secret not in str(await pool.fetch(f"SELECT * FROM {table}"))
    assert (await api.get("/v1/payments", headers={"Authorization": f"Bearer {secret}"})
            ).status == 200
    # Never again: not on the list, not on a double submit.
    assert secret not in await (await api.get("/dashboard/keys")).text()
    again = await api.post("/dashboard/keys", allow_redirects=False, data=[
        ("csrf", csrf), ("form_id", form_id), ("name", "backend"),
        ("scopes", "payments:read"), ("scopes", "orders:read")])
    assert again.status == 303
    assert again.headers["Location"] == "/dashboard/keys?notice=created_before"
    assert await pool.fetchval("SELECT count(*) FROM api_keys WHERE name = 'backend'") == 1


async def test_a_key_creates_keys_within_its_own_scopes_only(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop", scopes=["payments:read", "orders:read"])
    csrf = await sign_in(api, key_of(headers))
    page = await (await api.get("/dashboard/keys")).text()
    offered = re.findall(r'name="scopes" value="([^"]+)"', page)
    assert offered == ["payments:read", "orders:read"]
    for scopes in (["payments:write"], ["payments:read", "admin"]):
        forged = await api.post("/dashboard/keys", allow_redirects=False, data=[
            ("csrf", csrf), ("form_id", f"f-{len(scopes)}"), ("name", "sneaky"),
            *[("scopes", s) for s in scopes]])
        assert forged.status == 403
        assert 'data-code="scope_not_grantable"' in await forged.text()
    no_scope = await post_form(api, "/dashboard/keys", csrf, name="none")
    assert no_scope.status == 422
    assert 'value="none"' in await no_scope.text()
    assert await pool.fetchval("SELECT count(*) FROM api_keys") == 1


async def test_revoking_a_key_ends_its_dashboard_sessions_at_once(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    doomed = await _key(pool, store["id"], "old backend", ["payments:read"])
    doomed_id = await pool.fetchval("SELECT id FROM api_keys WHERE name = 'old backend'")
    async with browser_session(api, doomed) as other:
        assert (await other.get("/dashboard", allow_redirects=False)).status == 200
        csrf = await sign_in(api, key_of(headers))
        answer = await post_form(api, f"/dashboard/keys/{doomed_id}/revoke", csrf, "rv-1")
        assert answer.status == 303
        assert answer.headers["Location"] == "/dashboard/keys?notice=revoked"
        after = await other.get("/dashboard", allow_redirects=False)
        assert after.status == 303
        assert after.headers["Location"].startswith("/dashboard/sign-in")
    assert (await api.get("/v1/payments", headers={"Authorization": f"Bearer {doomed}"})
            ).status == 401
    audit = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'api_key.revoke'")
    signed_in_key = await pool.fetchval("SELECT id FROM api_keys WHERE name = 'test'")
    assert (audit["actor"], audit["store_id"], audit["object_id"]) == (
        f"key:{signed_in_key}", store["id"], str(doomed_id))
    again = await post_form(api, f"/dashboard/keys/{doomed_id}/revoke", csrf, "rv-1")
    assert again.status == 303                      # the same form: its answer, once
    stale = await post_form(api, f"/dashboard/keys/{doomed_id}/revoke", csrf)
    assert stale.status == 409
    assert await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'api_key.revoke'") == 1
    listed = await (await api.get("/dashboard/keys")).text()
    assert "revoked</span>" in listed


async def test_what_a_key_may_not_revoke(api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop", scopes=["payments:read", "webhooks:read"])
    _other_headers, other = await make_store(pool, "other-shop")
    await _key(pool, store["id"], "admin", ["admin"])
    await _key(pool, other["id"], "theirs", ["payments:read"])
    ids = {r["name"]: r["id"] for r in await pool.fetch(
        "SELECT id, name FROM api_keys WHERE store_id = $1 OR name = 'theirs'", store["id"])}
    csrf = await sign_in(api, key_of(headers))
    page = await (await api.get("/dashboard/keys")).text()
    assert f"/dashboard/keys/{ids['admin']}/revoke" not in page     # beyond its scopes
    assert f"/dashboard/keys/{ids['test']}/revoke" not in page      # its own
    own = await post_form(api, f"/dashboard/keys/{ids['test']}/revoke", csrf)
    assert own.status == 409
    assert "this session signed in with" in await own.text()
    stronger = await post_form(api, f"/dashboard/keys/{ids['admin']}/revoke", csrf)
    assert stronger.status == 403
    foreign = await post_form(api, f"/dashboard/keys/{ids['theirs']}/revoke", csrf)
    assert foreign.status == 404
    nonsense = await post_form(api, "/dashboard/keys/not-a-key/revoke", csrf)
    assert nonsense.status == 404
    assert await pool.fetchval("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL") == 4


async def test_an_operator_revokes_any_key_of_the_store_in_view(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop", scopes=ALL_STORE_SCOPES)
    async with pool.acquire() as conn:
        operator, _row = await create_key(conn, None, "ops", ["admin"], "test")
    csrf = await sign_in(api, operator)
    switched = await post_form(api, "/dashboard/stores/switch", csrf, store="shop")
    assert switched.status == 303
    page = await (await api.get("/dashboard/keys")).text()
    assert "ops" not in re.findall(r"<td>([^<]*)</td>", page)     # its own key is no store's
    key_id = await pool.fetchval("SELECT id FROM api_keys WHERE store_id = $1", store["id"])
    answer = await post_form(api, f"/dashboard/keys/{key_id}/revoke", csrf)
    assert answer.status == 303
    assert (await api.get("/v1/payments", headers=headers)).status == 401
    made = await api.post("/dashboard/keys", allow_redirects=False, data=[
        ("csrf", csrf), ("form_id", "op-1"), ("name", "new admin"), ("scopes", "admin")])
    assert made.status == 201
    assert await pool.fetchval(
        "SELECT store_id FROM api_keys WHERE name = 'new admin'") == store["id"]
