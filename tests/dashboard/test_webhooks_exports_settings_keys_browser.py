"""Webhooks, exports, settings and API keys in a real browser: one merchant's afternoon (add an
endpoint and copy its secret, redeliver a failed event, download a month, change the policy,
make a key and revoke an old one), each page checked by axe-core and photographed for the
README."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import asyncpg
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, expect

from db import events, webhooks
from paywatch.services.keys import create_key
from tests.conftest import make_store
from tests.dashboard.browser import axe_violations, new_page, open_menu, shot, sign_in
from tests.dashboard.helpers import key_of


async def _failed_delivery(pool: asyncpg.Pool, store: asyncpg.Record) -> None:
    async with pool.acquire() as conn:
        await webhooks.insert_endpoint(conn, store["id"], "https://1.1.1.1/orders-hook",
                                       "whsec_x", "order system", ["order.paid"])
        event = await events.emit(conn, store_id=store["id"], type_="order.paid", data={})
        await webhooks.fan_out(conn, datetime.now(UTC), 100)
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed', attempts = 12, "
            "last_status_code = 502, last_error = 'HTTP 502' WHERE event_id = $1", event["id"])
        await create_key(conn, store["id"], "old backend", ["payments:read"], "test")


async def test_webhooks_exports_settings_and_keys_in_a_browser(
        api: TestClient, pool: asyncpg.Pool, browser: Browser) -> None:
    headers, store = await make_store(pool, "shop", scopes=["admin"])
    await _failed_delivery(pool, store)
    base = str(api.make_url("")).rstrip("/")
    page, errors = await new_page(browser)
    await sign_in(page, base, key_of(headers))

    await open_menu(page, "Webhooks")
    await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    await page.get_by_label("URL").fill("https://1.1.1.1/paywatch")
    await page.get_by_label("Description (optional)").fill("accounting")
    await page.get_by_role("button", name="Add the endpoint").click()
    await expect(page.get_by_role("heading", name="Endpoint added")).to_be_visible()
    await expect(page.get_by_label("Signing secret")).to_have_value(
        await pool.fetchval("SELECT secret FROM webhook_endpoints WHERE url LIKE '%paywatch'"))
    assert await axe_violations(page) == []
    await shot(page, "webhooks", doc=True)

    await page.get_by_role("link", name="1 failing delivery: see them and redeliver").click()
    assert await axe_violations(page) == []
    await page.get_by_role("button", name="Redeliver the event order.paid").click()
    await expect(page.locator("#notice")).to_contain_text("queued for delivery again")
    await expect(page.locator("#none-failing")).to_be_visible()

    await open_menu(page, "Exports")
    await expect(page.get_by_role("heading", name="Exports")).to_be_visible()
    assert await axe_violations(page) == []
    await shot(page, "exports", doc=True)
    await page.get_by_label("What").select_option("payments")
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download the export").click()
    download = await download_info.value
    assert download.suggested_filename.startswith("paywatch-payments-")

    await open_menu(page, "Settings")
    await expect(page.get_by_role("heading", name="Store settings")).to_be_visible()
    assert await axe_violations(page) == []
    await shot(page, "settings", doc=True)
    await page.get_by_label("Confirmation level").select_option("finalized")
    await page.get_by_role("button", name="Save the settings").click()
    await expect(page.locator("#notice")).to_contain_text("The settings are saved")
    assert await pool.fetchval("SELECT commitment FROM stores") == "finalized"

    await open_menu(page, "API keys")
    await expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("reporting")
    await page.get_by_label("payments:read").check()
    await page.get_by_role("button", name="Create the key").click()
    await expect(page.get_by_role("heading", name="Key created")).to_be_visible()
    secret = await page.get_by_label("API key", exact=True).input_value()
    assert secret.startswith("pw_live_")
    assert await axe_violations(page) == []
    await page.get_by_role("button", name=re.compile(r"Revoke the key .* \(old backend\)")
                           ).click()
    await expect(page.locator("#notice")).to_contain_text("The key is revoked")
    await expect(page.locator("#new-key")).to_have_count(0)    # the secret is gone for good
    await shot(page, "keys", doc=True)
    assert errors == []
