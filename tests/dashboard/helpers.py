"""Driving the dashboard over HTTP as a browser would: sign in, read a page's form fields,
post a form with its CSRF token and form id. (tests/dashboard/browser.py drives Chromium.)"""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

_FIELD = re.compile(r'<input type="hidden" name="(csrf|form_id)" value="([^"]+)"')


def fields(page: str) -> dict[str, str]:
    """The first csrf and form_id hidden inputs of a rendered page."""
    found: dict[str, str] = {}
    for name, value in _FIELD.findall(page):
        found.setdefault(name, value)
    return found


def key_of(headers: dict[str, str]) -> str:
    """The API key inside test auth headers (tests/conftest.py make_store)."""
    return headers["Authorization"].removeprefix("Bearer ")


async def sign_in(client: TestClient, key: str) -> str:
    """Sign `client` in with `key`; the session's CSRF token (on every signed-in page)."""
    page = await client.get("/dashboard/sign-in")
    assert page.status == 200, await page.text()
    answer = await client.post("/dashboard/sign-in", allow_redirects=False, data={
        "csrf": fields(await page.text())["csrf"], "api_key": key, "next": "/dashboard"})
    assert answer.status == 303, await answer.text()
    home = await client.get("/dashboard/stores")
    assert home.status == 200, await home.text()
    return fields(await home.text())["csrf"]


async def post_form(client: TestClient, path: str, csrf: str | None,
                    form_id: str | None = None, **data: Any) -> ClientResponse:
    """POST a dashboard form (a fresh form id unless given: give the same to double-submit)."""
    body = {k: str(v) for k, v in data.items()}
    if csrf is not None:
        body["csrf"] = csrf
    body["form_id"] = form_id or secrets.token_urlsafe(16)
    return await client.post(path, data=body, allow_redirects=False)
