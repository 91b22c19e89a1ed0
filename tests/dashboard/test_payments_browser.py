"""The payments story in a real browser: sign in with a store key, look at the overview and the
payments list, open a pending payment, pay it on simnet, and watch its page turn confirmed
without a reload. Each page is checked with axe-core and photographed for the README."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, expect

from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import make_store
from tests.dashboard.browser import DESKTOP, PHONE, axe_violations, new_page, shot, sign_in
from tests.dashboard.helpers import key_of
from tests.watcher.harness import Harness, harness


async def accessible(page: Page) -> None:
    """No serious axe-core violation on a desktop or on a phone (tables scroll there)."""
    assert await axe_violations(page) == []
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    assert await axe_violations(page) == []
    await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]


@pytest.fixture
async def live(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
               wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, api, await make_store(pool, "shop"), wallet) as h:
        await h.start_watcher()
        yield h


async def test_a_payment_paid_on_simnet_turns_confirmed_on_its_page_without_a_reload(
        live: Harness, browser: Browser) -> None:
    h = live
    await h.create(amount="12.00")                               # an older one, for the list
    payment = await h.create(amount="25.00", label="Order 1042")
    base = str(h.api.make_url("")).rstrip("/")
    page, errors = await new_page(browser)
    await sign_in(page, base, key_of(h.headers))

    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await expect(page.locator("#open-payments")).to_have_text("2")
    await accessible(page)
    await shot(page, "overview", doc=True)

    await page.get_by_role("link", name="Pending payments").click()
    await expect(page.get_by_role("heading", name="Payments")).to_be_visible()
    await expect(page.locator("#payments tbody tr")).to_have_count(2)
    await accessible(page)
    await shot(page, "payments", doc=True)

    await page.get_by_role("link", name=f"open payment {payment['id']}").click()
    await expect(page.locator("#status")).to_have_text("pending")
    await expect(page.locator("#cancel-form")).to_be_visible()
    await page.evaluate("window.checkoutTestMark = 'same page'")  # a reload would lose it

    await h.wallet.pay(payment["payment_request"]["url"])
    await expect(page.locator("#status")).to_have_text("confirmed")
    await expect(page.locator("#transfers tbody tr")).to_have_count(1)
    await expect(page.locator('#timeline li[data-type="payment.confirmed"]')).to_have_count(1)
    await expect(page.locator("#refund")).to_be_visible()
    assert await page.evaluate("window.checkoutTestMark") == "same page"
    await accessible(page)
    await shot(page, "payment", doc=True)
    assert errors == []
