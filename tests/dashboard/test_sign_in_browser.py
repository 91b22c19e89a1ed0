"""Signing in and out in a real browser, with the pages checked by axe-core."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, expect

from tests.conftest import make_store
from tests.dashboard.browser import PHONE, axe_violations, new_page, shot, sign_in
from tests.dashboard.helpers import key_of


async def test_sign_in_and_out_in_a_browser(api: TestClient, pool: asyncpg.Pool,
                                            browser: Browser) -> None:
    headers, _store = await make_store(pool, "shop")
    base = str(api.make_url("")).rstrip("/")
    page, errors = await new_page(browser, PHONE)
    await page.goto(f"{base}/dashboard")
    await expect(page.get_by_role("heading", name="Sign in to the dashboard")).to_be_visible()
    assert await axe_violations(page) == []
    await shot(page, "sign-in", doc=True)

    await sign_in(page, base, key_of(headers))
    await expect(page.locator("#store-name")).to_have_text("Shop")
    assert await axe_violations(page) == []

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    await page.goto(f"{base}/dashboard")          # the session is over: back to sign-in
    await expect(page.get_by_role("heading", name="Sign in to the dashboard")).to_be_visible()
    assert errors == []
