"""The checkout page in headless Chromium (Debian's `chromium`, driven by playwright) while the
payments are paid on simnet and the Solana watcher confirms them: the page follows each step
live, without a reload. Screenshots of every state land in test-artifacts/checkout/."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, async_playwright, expect

from paywatch.core.money import format_units
from paywatch.core.solanapay import remainder_url
from paywatch.services.sweeps import expire_payments
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import ROOT, make_store
from tests.watcher.harness import Harness, harness

ARTIFACTS = ROOT / "test-artifacts" / "checkout"
CHROMIUM = os.environ.get("PAYWATCH_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
LIVE_S = 30_000  # ms: a bound on waiting for the chain and the watcher, not a timing claim


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which(CHROMIUM) or shutil.which("chromium")
    if executable is None:
        pytest.fail("Chromium is missing: scripts/test installs Debian's `chromium` "
                    "(apt-get install chromium), or set PAYWATCH_CHROMIUM to its path")
    async with async_playwright() as pw:
        # Debian's build, never playwright's own download (its CDN is not reachable here).
        browser = await pw.chromium.launch(executable_path=executable)
        yield browser
        await browser.close()


async def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    print(f"checkout screenshot: {path}")
    return path


async def open_page(browser: Browser, h: Harness,
                    payment: dict[str, Any]) -> tuple[Page, list[str]]:
    page = await browser.new_page(viewport=PHONE)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(str(h.api.make_url(f"/pay/{payment['id']}")))
    page.set_default_timeout(LIVE_S)
    await expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    # The event stream is open once the first event arrived; a reload would lose this mark.
    await page.evaluate("window.checkoutTestMark = 'same page'")
    return page, errors


async def state_of(page: Page, state: str) -> None:
    await expect(page.locator("#status")).to_have_attribute("data-state", state)


@pytest.fixture
async def live(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
               wallet: Wallet) -> AsyncIterator[Harness]:
    store = await make_store(pool, "shop")
    # Payments wait for `finalized`: with finalization stalled, `detected` stays on screen.
    await pool.execute("UPDATE stores SET commitment = 'finalized' WHERE id = $1",
                       store[1]["id"])
    async with harness(sim, pool, api, store, wallet) as h:
        await h.start_watcher()
        yield h


async def test_the_page_follows_a_payment_live_to_confirmed(
        live: Harness, browser: Browser) -> None:
    h = live
    payment = await h.create(amount="25.00")
    page, errors = await open_page(browser, h, payment)
    assert await page.locator("#open-wallet").get_attribute("href") == \
        payment["payment_request"]["url"]
    await expect(page.locator("#amount")).to_have_text(payment["amount_due_display"])
    await expect(page.locator("button[data-copy='address']")).to_be_visible()
    await shot(page, "waiting")

    await h.sim.control({"action": "stall_finalization", "stalled": True})
    await h.wallet.pay(payment["payment_request"]["url"])
    await state_of(page, "detected")
    await expect(page.locator("#pay")).to_be_hidden()        # nothing more to pay
    await shot(page, "detected")

    await h.sim.control({"action": "stall_finalization", "stalled": False})
    await state_of(page, "confirmed")
    await expect(page.locator("#status-headline")).to_have_text("Payment confirmed")
    assert await page.evaluate("window.checkoutTestMark") == "same page"   # no reload
    await shot(page, "confirmed")
    assert errors == []   # a CSP violation or a script error would show up here


async def test_an_underpaid_payment_asks_for_the_rest_and_then_confirms(
        live: Harness, browser: Browser) -> None:
    h = live
    payment = await h.create(amount="25.00")
    page, errors = await open_page(browser, h, payment)
    due = int(payment["amount_due"])
    url = payment["payment_request"]["url"]
    await h.wallet.pay(remainder_url(url, due // 2, 9) or "")  # the customer sent half
    # A new amount to pay: the page reloads itself to show the new QR code and amounts.
    await expect(page.locator("#amount")).to_have_text(format_units(due - due // 2, 9))
    await state_of(page, "underpaid")
    rest = await page.locator("#open-wallet").get_attribute("href")
    assert rest == remainder_url(url, due - due // 2, 9)
    await shot(page, "underpaid")

    await h.wallet.pay(rest or "")   # what the page's wallet button asks for
    await state_of(page, "confirmed")
    row = await h.payment(payment["id"])
    assert (row["status"], row["amount_received"]) == ("confirmed", due)
    assert errors == []


async def test_an_expired_payment_says_so_and_then_that_money_came_late(
        live: Harness, browser: Browser) -> None:
    h = live
    payment = await h.create(amount="25.00")
    page, errors = await open_page(browser, h, payment)
    await h.pool.execute(  # the quote ran out (as time would do), then the sweep runs
        "UPDATE payments SET created_at = now() - interval '1 hour', "
        "expires_at = now() - interval '1 minute' WHERE id = $1", uuid.UUID(payment["id"]))
    assert await expire_payments(h.pool) == 1
    await state_of(page, "expired")
    await expect(page.locator("#pay")).to_be_hidden()
    await shot(page, "expired")

    await h.wallet.pay(payment["payment_request"]["url"])   # paid anyway, too late
    await state_of(page, "paid_late")
    assert await page.evaluate("window.checkoutTestMark") == "same page"
    await shot(page, "paid_late")
    assert errors == []


async def test_without_javascript_the_page_still_shows_the_request_and_refreshes(
        live: Harness, browser: Browser) -> None:
    h = live
    payment = await h.create(amount="25.00")
    context = await browser.new_context(java_script_enabled=False, viewport=PHONE)
    page = await context.new_page()
    await page.goto(str(h.api.make_url(f"/pay/{payment['id']}")))
    await expect(page.locator("#status")).to_have_attribute("data-state", "waiting")
    await expect(page.locator("noscript").last).to_have_count(1)
    await expect(page.locator(".qr img")).to_be_visible()
    await expect(page.locator("button[data-copy]").first).to_be_hidden()  # needs JS
    await shot(page, "waiting-no-javascript")
    await context.close()


async def test_a_confirmed_page_takes_the_customer_back_to_the_merchant(
        api: TestClient, pool: asyncpg.Pool, browser: Browser) -> None:
    headers, _store = await make_store(pool, "shop")
    back = str(api.make_url("/healthz"))   # stands in for the merchant's thank-you page
    resp = await api.post("/v1/payments", headers=headers, json={
        "amount": "5.00", "currency": "USD", "asset": "SOL", "redirect_url": back})
    payment = await resp.json()
    await pool.execute("UPDATE payments SET status = 'confirmed', confirmed_at = now(), "
                       "amount_received = amount_due WHERE id = $1", uuid.UUID(payment["id"]))
    page = await browser.new_page(viewport=PHONE)
    page.set_default_timeout(LIVE_S)
    await page.goto(str(api.make_url(f"/pay/{payment['id']}")))
    await expect(page.get_by_role("link", name="Continue to the store")).to_have_attribute(
        "href", back)
    await page.wait_for_url(back)
