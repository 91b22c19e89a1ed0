"""The chain interface: one configuration list, one registry, and proof that a new chain needs
no API edits (a third chain defined here gets payments and a checkout page)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from api.app import build_app
from db import stores
from paywatch.chains import build_chains
from paywatch.core.chains import (
    ChainAdapter,
    ChainInputError,
    ChainRegistry,
    Runnable,
)
from paywatch.core.evm import checksum
from paywatch.core.payments import PaymentAsk
from paywatch.core.settings import Settings, load_settings
from tests.conftest import RECIPIENT, make_store

ANVIL = {"name": "anvil", "chain_id": 31337, "rpc_urls": ["https://user:secret@rpc.test/key"]}


def test_the_legacy_variables_fold_into_one_chains_list(monkeypatch: Any) -> None:
    monkeypatch.setenv("PAYWATCH_SOLANA_RPC_URLS", "https://sol.test/?api-key=hidden")
    monkeypatch.setenv("PAYWATCH_SOLANA_COMMITMENT", "finalized")
    monkeypatch.setenv("PAYWATCH_EVM_CHAINS", json.dumps([ANVIL]))
    monkeypatch.setenv("PAYWATCH_EVM_WATCH", "false")
    settings = load_settings(_env_file=None)
    assert [(c.family, c.name, c.watch) for c in settings.all_chains()] == [
        ("solana", "solana", True), ("evm", "anvil", False)]
    shown = json.dumps(settings.public_view()["PAYWATCH_CHAINS"])
    assert "hidden" not in shown
    assert "secret" not in shown
    assert '"commitment": "finalized"' in shown
    # A copy with other values (the demo points Solana at its simnet) folds those values.
    copy = settings.model_copy(update={"solana_rpc_urls": ["http://127.0.0.1:1"]})
    assert copy.all_chains()[0].rpc_urls == ["http://127.0.0.1:1"]


def test_the_chains_list_configures_every_family_in_one_shape(monkeypatch: Any) -> None:
    monkeypatch.setenv("PAYWATCH_CHAINS", json.dumps([
        {"family": "solana", "rpc_urls": ["https://sol.test"], "ws_urls": ["wss://sol.test"]},
        {"family": "evm", "display_name": "Local", **ANVIL}]))
    settings = load_settings(_env_file=None)
    registry = build_chains(settings)
    assert registry.names() == ["solana", "anvil"]
    solana, anvil = registry.get("solana"), registry.get("anvil")
    assert solana is not None
    assert anvil is not None
    assert (solana.family, solana.display_name, solana.native_asset) == ("solana", "Solana",
                                                                         "SOL")
    assert (anvil.family, anvil.display_name, anvil.native_asset) == ("evm", "Local", "ETH")
    assert registry.watched() == ["solana", "anvil"]
    assert anvil.validate_address("0x" + "ab" * 20) == checksum("0x" + "ab" * 20)
    assert solana.validate_address(RECIPIENT) == RECIPIENT
    for adapter, wrong in ((solana, "0x" + "ab" * 20), (anvil, RECIPIENT)):
        try:
            adapter.validate_address(wrong)
        except ValueError:
            continue
        raise AssertionError(f"{adapter.name} took {wrong}")


def test_a_chain_name_is_one_chain() -> None:
    raised = None
    try:
        load_settings(_env_file=None, chains=[{"family": "evm", **ANVIL}], evm_chains=[ANVIL])
    except Exception as exc:  # SettingsError: one line per bad variable
        raised = str(exc)
    assert raised is not None
    assert "unique" in raised


class TestChain:
    """A whole chain in thirty lines: addresses are `tc1` + 8 lowercase hex digits, requests
    are `testchain:<to>?amount=<n>`, and it has no watcher worth the name."""

    name = family = "testchain"
    display_name = "Test Chain"
    native_asset = "TST"
    watch = False

    def validate_address(self, address: str) -> str:
        if len(address) != 11 or not address.startswith("tc1"):
            raise ValueError(f"{address!r} is not a testchain address")
        return address

    def derive_address(self, xpub: str, index: int) -> str:
        return f"tc1{index:08x}"

    def resolve_asset(self, asset: str, mint: str | None,
                      decimals: int | None) -> tuple[str | None, int]:
        if asset != self.native_asset:
            raise ChainInputError(422, "asset_not_configured", "only TST", param="assets")
        return None, 2

    async def check_payable(self, conn: asyncpg.Connection, store: Mapping[str, Any],
                            ask: PaymentAsk) -> None:
        return None

    async def plan_request(self, conn: asyncpg.Connection, store: Mapping[str, Any],
                           values: Mapping[str, Any], ask: PaymentAsk) -> dict[str, Any]:
        to = self.derive_address("", 7)
        return {"recipient": to, "reference": None, "request_type": "testchain_uri",
                "request_chain_id": None,
                "payment_url": f"testchain:{to}?amount={values['amount_due']}"}

    def remainder_request(self, payment_url: str, remaining: int, decimals: int) -> str | None:
        return payment_url.split("?")[0] + f"?amount={remaining}"

    def pay_note(self, payment: Mapping[str, Any]) -> str | None:
        return "Test coins only."

    def explorer_tx_url(self, tx: str) -> str | None:
        return None

    def explorer_address_url(self, address: str) -> str | None:
        return None

    def watcher(self, pool: asyncpg.Pool, session: aiohttp.ClientSession,
                public_url: str | None) -> Runnable:
        async def idle() -> None:
            return None
        return idle


async def test_a_third_chain_needs_no_api_edits(pool: asyncpg.Pool, db_dsn: str) -> None:
    settings = Settings(database_url=db_dsn, static_prices={"TST": Decimal("2")},
                        _env_file=None)
    third: ChainAdapter = TestChain()
    chains = ChainRegistry([*build_chains(settings), third])
    headers, store = await make_store(pool, "third-chain")
    async with pool.acquire() as conn:
        await stores.upsert_store_asset(conn, store["id"], "testchain", "TST", None, 2)
    client = TestClient(TestServer(build_app(settings, pool, chains=chains)))
    await client.start_server()
    try:
        resp = await client.post("/v1/payments", headers=headers, json={
            "amount": "10.00", "currency": "USD", "asset": "TST", "chain": "testchain"})
        assert resp.status == 201, await resp.text()
        payment = await resp.json()
        # 10 USD at 2 USD/TST = 5 TST = 500 base units (2 decimals).
        assert payment["amount_due"] == "500"
        request = payment["payment_request"]
        assert request["type"] == "testchain_uri"
        assert request["url"] == "testchain:tc100000007?amount=500"
        assert request["recipient"] == "tc100000007"

        page = await (await client.get(payment["checkout_url"])).text()
        assert f"{payment['amount_due_display']} TST on Test Chain" in page
        assert "testchain:tc100000007?amount=500" in page
        assert "Send TST on Test Chain only. Test coins only." in page

        # An unconfigured chain is refused with the configured ones named, not a 500.
        resp = await client.post("/v1/payments", headers=headers, json={
            "amount": "10.00", "currency": "USD", "asset": "TST", "chain": "nochain"})
        assert resp.status == 422
        error = (await resp.json())["error"]
        assert error["code"] == "chain_not_configured"
        assert "testchain" in error["message"]
    finally:
        await client.close()
