"""The dashboard in headless Chromium (Debian's `chromium`, driven by playwright, as the checkout
test does): sign in through the real form, check a page with axe-core, take the README's
screenshots."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import ROOT

CHROMIUM = os.environ.get("PAYWATCH_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
# The README's pictures: written only when PAYWATCH_DOC_SCREENSHOTS=1 (then committed by hand),
# so an ordinary run never dirties the checkout.
DOC_IMAGES = ROOT / "docs" / "images"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LIVE_MS = 30_000   # a bound on waiting for the chain and the watcher, not a timing claim


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    executable = shutil.which(CHROMIUM) or shutil.which("chromium")
    if executable is None:
        pytest.fail("Chromium is missing: scripts/test installs Debian's `chromium` "
                    "(apt-get install chromium), or set PAYWATCH_CHROMIUM to its path")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser, viewport: dict[str, int] | None = None
                   ) -> tuple[Page, list[str]]:
    """A page in a fresh context (its own cookies) and the list its script errors and CSP
    violations land in (a test asserts it empty)."""
    context = await browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
    page = await context.new_page()
    page.set_default_timeout(LIVE_MS)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


async def sign_in(page: Page, base_url: str, key: str) -> None:
    """Sign in through the form, as a person would (keyboard-reachable label and button)."""
    await page.goto(f"{base_url}/dashboard/sign-in")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#sign-out")).to_be_visible()


async def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")
                         ) -> list[dict[str, Any]]:
    """axe-core's violations of at least `impacts` on the page as it is now. Run through the
    DevTools protocol (page.evaluate), which the page's CSP does not govern, so the check needs
    no weakening of the policy it also tests."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci --prefix tests/js` (scripts/test does)")
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate("async () => JSON.stringify(await axe.run(document))")
    found = json.loads(result)["violations"]
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in found if v["impact"] in impacts]


async def shot(page: Page, name: str, doc: bool = False) -> Path:
    """A screenshot in test-artifacts/dashboard/ (and docs/images/ for the README, when
    PAYWATCH_DOC_SCREENSHOTS=1)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    if doc and os.environ.get("PAYWATCH_DOC_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(DOC_IMAGES / f"dashboard-{name}.png"), full_page=False)
    return path


async def open_menu(page: Page, label: str) -> None:
    """Follow the dashboard menu's link `label` (the menu is the navigation named Dashboard;
    a page may link to the same place in other words)."""
    menu = page.get_by_role("navigation", name="Dashboard")
    await menu.get_by_role("link", name=label, exact=True).click()
