"""A refund in a real browser: a payment paid on simnet (the watcher running), the refund made
from the payment's refund form, its page showing the QR code and request for the merchant's
own wallet, and the page turning confirmed by itself, without a reload, when that wallet pays
it on simnet. Every page is checked with axe-core; the refund page is the README's screenshot."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, expect

from paywatch.core.money import format_units
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import make_store
from tests.dashboard.browser import LIVE_MS, axe_violations, new_page, open_menu, shot, sign_in
from tests.dashboard.helpers import key_of
from tests.watcher.harness import Harness, harness


@pytest.fixture
async def h(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
            wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, api, await make_store(pool, "shop"), wallet) as hh:
        await hh.start_watcher()
        yield hh


async def test_a_refund_made_in_the_browser_turns_confirmed_when_the_wallet_pays_it(
        h: Harness, browser: Browser) -> None:
    payment = await h.create(amount="30.00")
    await h.wallet.pay(payment["payment_request"]["url"])
    paid = await h.wait_for(payment["id"], "confirmed")
    half = format_units(int(paid["amount_received"]) // 2, 9)

    base = str(h.api.make_url("")).rstrip("/")
    page, errors = await new_page(browser)
    await sign_in(page, base, key_of(h.headers))
    await page.goto(f"{base}/dashboard/payments/{payment['id']}/refund")
    await expect(page.get_by_role("heading", name="Refund payment")).to_be_visible()
    assert await axe_violations(page) == []
    await page.get_by_label("Amount in SOL").fill(half)
    await page.get_by_label("Reason (optional)").fill("one mug came broken")
    await page.get_by_role("button", name="Create the refund request").click()

    status = page.locator("#refund-status")
    await expect(status).to_have_text("pending")
    await expect(page.locator("#notice")).to_contain_text("Refund created")
    await expect(page.locator("#refund-amount")).to_have_text(f"{half} SOL")
    await expect(page.locator("#refund-qr")).to_be_visible()
    assert await page.locator("#refund-qr").evaluate("img => img.naturalWidth") > 0
    assert await axe_violations(page) == []
    await shot(page, "refund", doc=True)
    url = await page.locator("#open-wallet").get_attribute("href")
    refund_id = page.url.split("/dashboard/refunds/")[1].split("?")[0]
    await page.evaluate("window.refundTestMark = 'same page'")

    # The merchant's own wallet scans the request and sends it; the page follows by itself.
    await Wallet(h.merchant, h.wallet.client).pay(url or "")
    await expect(status).to_have_text("confirmed", timeout=LIVE_MS)
    await expect(page.locator("#refund-transfers")).to_be_visible()
    await expect(page.locator("#refund-qr")).to_have_count(0)
    assert await page.evaluate("window.refundTestMark") == "same page"     # no reload
    assert await h.pool.fetchval("SELECT status FROM refunds WHERE id = $1",
                                 uuid.UUID(refund_id)) == "confirmed"
    await expect(page.locator("#notice")).to_have_count(0)
    await shot(page, "refund-confirmed")

    await open_menu(page, "Refunds")
    await expect(page.get_by_role("heading", name="Refunds")).to_be_visible()
    await expect(page.locator("#refunds")).to_contain_text("confirmed")
    assert await axe_violations(page) == []
    assert errors == []
