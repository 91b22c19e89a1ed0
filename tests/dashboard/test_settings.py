"""The dashboard's store settings: every key reads them, an `admin` key edits them through the
API's own update (the same checks and audit row); a refusal keeps what was typed."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser

import asyncpg
from aiohttp.test_utils import TestClient

from paywatch.core.evm import EvmChain
from tests.conftest import USDC_MINT, api_client, make_store
from tests.dashboard.helpers import key_of, post_form, sign_in

BASE = EvmChain(name="base", chain_id=8453, rpc_urls=["http://127.0.0.1:1"])
SHARED = "0x000000000000000000000000000000000000dEaD"


class _Form(HTMLParser):
    """The named fields of a page's forms as a browser would post them (first form wins)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and "name" in a and a.get("type") not in ("checkbox", "radio"):
            self.values.setdefault(a["name"], a.get("value", ""))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and ("selected" in a
                                                   or self._select not in self.values):
            self.values[self._select] = a["value"]
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values[self._textarea] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data


def form_values(page: str) -> dict[str, str]:
    parser = _Form()
    parser.feed(page)
    return parser.values


async def test_an_admin_key_edits_the_settings_through_the_apis_update(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop", scopes=["admin"])
    await sign_in(api, key_of(headers))
    page = await (await api.get("/dashboard/settings")).text()
    values = form_values(page)
    assert values["commitment"] == "confirmed"
    assert values["assets"].splitlines() == ["solana SOL 9", f"solana USDC {USDC_MINT} 6"]
    values.update(commitment="finalized", underpaid_tolerance_percent="1.5",
                  accept_late_payments="yes", payment_lifetime_seconds="1800",
                  finalized_above="500", assets="solana SOL 9")
    answer = await post_form(api, "/dashboard/settings", **values)
    assert answer.status == 303, await answer.text()
    assert answer.headers["Location"] == "/dashboard/settings?notice=saved"
    row = await pool.fetchrow("SELECT * FROM stores WHERE id = $1", store["id"])
    assert row["commitment"] == "finalized"
    assert row["underpaid_tolerance_percent"] == Decimal("1.5")
    assert row["accept_late_payments"] is True
    assert row["payment_lifetime"].total_seconds() == 1800
    assets = await pool.fetch("SELECT asset FROM store_assets WHERE store_id = $1 AND enabled",
                              store["id"])
    assert [a["asset"] for a in assets] == ["SOL"]
    audit = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'store.update'")
    key_id = await pool.fetchval("SELECT id FROM api_keys")
    assert audit["actor"] == f"key:{key_id}"
    # The API reads what the dashboard saved.
    got = await (await api.get("/v1/stores/shop", headers=headers)).json()
    assert (got["commitment"], Decimal(got["finalized_above"])) == ("finalized", 500)
    saved = await (await api.get("/dashboard/settings?notice=saved")).text()
    assert "The settings are saved" in saved
    # Emptying the amount clears it.
    values = form_values(saved)
    values["finalized_above"] = ""
    assert (await post_form(api, "/dashboard/settings", **values)).status == 303
    assert await pool.fetchval("SELECT finalized_above FROM stores") is None


async def test_a_double_submit_saves_once(api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop", scopes=["admin"])
    await sign_in(api, key_of(headers))
    values = form_values(await (await api.get("/dashboard/settings")).text())
    form_id = values.pop("form_id")
    csrf = values.pop("csrf")
    values["name"] = "Shop Two"
    for _ in range(2):
        answer = await post_form(api, "/dashboard/settings", csrf, form_id, **values)
        assert answer.status == 303
    assert await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'store.update'") == 1


async def test_a_refused_edit_is_a_422_that_keeps_what_was_typed(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop", scopes=["admin"])
    await sign_in(api, key_of(headers))
    values = form_values(await (await api.get("/dashboard/settings")).text())
    before = await pool.fetchrow("SELECT * FROM stores")
    for change, message in (
            ({"payment_lifetime_seconds": "5"}, "payment_lifetime_seconds"),
            ({"default_currency": "XYZ1"}, "default_currency"),
            ({"assets": "solana SOL 9\nmoon DOGE"}, "moon"),
            ({"assets": "solana"}, "assets, line 1"),
            ({"assets": "solana SOL 9\nsolana USDC a b"}, "assets, line 2"),
            ({"cfv_cap_percent": "lots", "name": "Typed name"}, "cap_percent")):
        typed = {**values, **change}
        answer = await post_form(api, "/dashboard/settings", **typed)
        assert answer.status == 422, change
        text = await answer.text()
        assert message in text, (change, text[-1500:])
        kept = form_values(text)
        for name, value in change.items():
            assert kept[name].strip() == value.strip(), name
    assert await pool.fetchrow("SELECT * FROM stores") == before


async def test_a_key_without_admin_reads_the_settings_and_cannot_edit(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    csrf = await sign_in(api, key_of(headers))
    page = await api.get("/dashboard/settings")
    assert page.status == 200
    text = await page.text()
    assert 'id="read-only"' in text
    assert 'action="/dashboard/settings"' not in text
    assert USDC_MINT in text
    forged = await post_form(api, "/dashboard/settings", csrf, name="Taken over",
                             commitment="finalized")
    assert forged.status == 403
    assert await pool.fetchval("SELECT name FROM stores") == "Shop"
    assert await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'store.update'") == 0


async def test_an_evm_chain_is_set_and_removed_from_the_form(pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop", scopes=["admin"])
    async with api_client(pool, evm_chains=[BASE]) as api:
        await sign_in(api, key_of(headers))
        values = form_values(await (await api.get("/dashboard/settings")).text())
        assert values["evm_base_mode"] == "none"
        values.update(evm_base_mode="shared_address", evm_base_address=SHARED.lower())
        assert (await post_form(api, "/dashboard/settings", **values)).status == 303
        chain = await pool.fetchrow("SELECT * FROM store_evm_chains WHERE store_id = $1",
                                    store["id"])
        assert (chain["mode"], chain["address"]) == ("shared_address", SHARED)
        values = form_values(await (await api.get("/dashboard/settings")).text())
        assert values["evm_base_address"] == SHARED
        refused = await post_form(api, "/dashboard/settings",
                                  **{**values, "evm_base_mode": "deposit_address"})
        assert refused.status == 422
        assert "xpub" in await refused.text()
        values["evm_base_mode"] = "none"
        assert (await post_form(api, "/dashboard/settings", **values)).status == 303
        assert await pool.fetchval("SELECT count(*) FROM store_evm_chains") == 0
