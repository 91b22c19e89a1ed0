"""Resolving an unmatched transfer in a real browser: SOL sent on simnet without the payment's
reference lands in the store's inbox (the watcher running), and the merchant signs in, opens
it, finds the payment by its order number, assigns it, and sees it assigned with a link to the
payment; the order is paid. Every page is checked with axe-core; the orders, order and inbox
views are the README's screenshots."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, expect
from solders.system_program import TransferParams, transfer

from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import make_store
from tests.dashboard.browser import LIVE_MS, axe_violations, new_page, open_menu, shot, sign_in
from tests.dashboard.helpers import key_of
from tests.watcher.harness import Harness, harness
from watcher.solana.matcher import NOT_BY_AMOUNT

ORDER = {"customer": {"email": "ada@example.com", "name": "Ada Lovelace"}, "currency": "USD",
         "items": [{"sku": "MUG-1", "name": "Mug", "quantity": 2, "unit_price": "12.50"},
                   {"sku": "TEE-M", "name": "T-shirt", "quantity": 1, "unit_price": "5.00"}]}


@pytest.fixture
async def h(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
            wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, api, await make_store(pool, "shop"), wallet) as hh:
        await hh.start_watcher()
        yield hh


async def test_an_unmatched_transfer_is_found_and_assigned_in_the_browser(
        h: Harness, browser: Browser) -> None:
    resp = await h.api.post("/v1/orders", headers=h.headers, json=ORDER)
    order = await resp.json()
    payment = await h.create(order_id=order["id"], amount=None, currency=None)
    # The customer's wallet sends the right amount but no reference: nothing can match it.
    stray = await h.wallet.send([transfer(TransferParams(
        from_pubkey=h.wallet.pubkey, to_pubkey=h.merchant.pubkey(),
        lamports=int(payment["amount_due"])))])
    entry = await h.wait_row("SELECT * FROM transfers WHERE tx_id = $1 AND status <> "
                             "'processed'", stray)
    assert (entry["payment_id"], entry["unmatched_reason"]) == (None, NOT_BY_AMOUNT)

    base = str(h.api.make_url("")).rstrip("/")
    page, errors = await new_page(browser)
    await sign_in(page, base, key_of(h.headers))
    await open_menu(page, "Inbox")
    await expect(page.get_by_role("heading", name="Inbox: unmatched transfers")).to_be_visible()
    assert await axe_violations(page) == []
    await shot(page, "inbox", doc=True)

    await page.get_by_role("link", name=f"Transfer {entry['id']}").click()
    await expect(page.locator("#unmatched-reason")).to_have_text(NOT_BY_AMOUNT)
    assert await page.locator("#explorer").get_attribute("href") == \
        f"https://explorer.solana.com/tx/{stray}"
    await page.get_by_label("Payment id, order number or amount").fill(order["number"])
    await page.get_by_role("button", name="Find payments").click()
    await page.get_by_label(f"Payment {payment['id'][:8]}").check()
    await page.get_by_label("Note (optional, kept with the transfer)").fill("paid without "
                                                                            "the QR code")
    assert await axe_violations(page) == []
    await shot(page, "inbox-transfer")
    await page.get_by_role("button", name="Assign to the chosen payment").click()

    await expect(page.locator("#notice")).to_contain_text("Assigned")
    await expect(page.locator("#transfer-state")).to_have_text("assigned")
    link = page.locator("#payment-link")
    await expect(link).to_have_attribute("href", f"/dashboard/payments/{payment['id']}")
    await h.wait_for(payment["id"], "confirmed")

    await page.goto(f"{base}/dashboard/orders")
    await expect(page.get_by_role("link", name=order["number"])).to_be_visible()
    assert await axe_violations(page) == []
    await shot(page, "orders", doc=True)
    await page.get_by_role("link", name=order["number"]).click()
    await expect(page.locator("#order-status")).to_have_text("paid", timeout=LIVE_MS)
    await expect(page.locator("#order-payments")).to_contain_text("confirmed")
    assert await axe_violations(page) == []
    await shot(page, "order", doc=True)
    assert errors == []
