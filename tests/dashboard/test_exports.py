"""The dashboard's exports: the download is the API's export (the same streamed body) for the
same period, signed in with the session; bad input is a 422 page that keeps what was typed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import make_store
from tests.dashboard.helpers import fields, key_of, sign_in


async def sign_in_at(client: TestClient, key: str) -> None:
    """Sign in without visiting the overview (a key without payments:read may not see it)."""
    page = await client.get("/dashboard/sign-in")
    answer = await client.post("/dashboard/sign-in", allow_redirects=False, data={
        "csrf": fields(await page.text())["csrf"], "api_key": key, "next": "/dashboard"})
    assert answer.status == 303


async def test_the_download_is_the_api_export_for_the_same_period(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    _other, _ = await make_store(pool, "other-shop")
    for amount in ("5", "7.25"):
        made = await api.post("/v1/payments", headers=headers,
                              json={"amount": amount, "currency": "USD", "asset": "SOL"})
        assert made.status == 201, await made.text()
    await api.post("/v1/payments", headers=_other,
                   json={"amount": "9", "currency": "USD", "asset": "SOL"})
    await sign_in(api, key_of(headers))
    page = await api.get("/dashboard/exports")
    assert page.status == 200
    assert 'action="/dashboard/exports/download"' in await page.text()
    today = datetime.now(UTC).date()
    first, last = today - timedelta(days=1), today + timedelta(days=1)
    for kind in ("payments", "transfers", "refunds"):
        for fmt in ("csv", "json"):
            mine = await api.get("/dashboard/exports/download", params={
                "kind": kind, "from": first.isoformat(), "to": last.isoformat(),
                "format": fmt})
            theirs = await api.get(f"/v1/exports/{kind}", headers=headers, params={
                "from": f"{first.isoformat()}T00:00:00Z",
                "to": f"{(last + timedelta(days=1)).isoformat()}T00:00:00Z", "format": fmt})
            assert (mine.status, theirs.status) == (200, 200)
            body = await mine.read()
            assert body == await theirs.read()
            for header in ("Content-Type", "Content-Disposition", "Cache-Control"):
                assert mine.headers[header] == theirs.headers[header]
    csv_text = (await (await api.get("/dashboard/exports/download", params={
        "kind": "payments", "from": first.isoformat(), "to": last.isoformat(),
        "format": "csv"})).read()).decode()
    assert len(csv_text.strip().splitlines()) == 3     # the header and this store's two


async def test_bad_input_is_a_422_page_that_keeps_what_was_typed(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    await sign_in(api, key_of(headers))
    backwards = await api.get("/dashboard/exports/download", params={
        "kind": "refunds", "from": "2030-03-10", "to": "2030-03-01", "format": "json"})
    assert backwards.status == 422
    text = await backwards.text()
    assert "the first day must not be after the last" in text
    assert 'value="2030-03-10"' in text
    assert 'value="2030-03-01"' in text
    assert '<option value="refunds" selected>' in text
    assert 'value="json" checked' in text
    for params in ({"kind": "payments", "from": "March", "to": "2030-03-01", "format": "csv"},
                   {"kind": "secrets", "from": "2030-03-01", "to": "2030-03-02",
                    "format": "csv"},
                   {"kind": "payments", "from": "2030-03-01", "to": "2030-03-02",
                    "format": "xml"},
                   {"kind": "payments", "from": "2000-01-01", "to": "2030-03-02",
                    "format": "csv"}):
        answer = await api.get("/dashboard/exports/download", params=params)
        assert answer.status == 422, params
        assert answer.headers["Content-Type"].startswith("text/html")


async def test_the_download_needs_the_apis_scope(api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop", scopes=["webhooks:read"])
    await sign_in_at(api, key_of(headers))
    refused = await api.get("/dashboard/exports/download", params={
        "kind": "payments", "from": "2030-03-01", "to": "2030-03-02", "format": "csv"})
    assert refused.status == 403
    assert "payments:read" in await refused.text()
