"""The store's Solana unique-amount opt-in, through the API and the CLI, and what the checkout
note tells a customer of a unique-amount payment."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from paywatch.core.solanapay import SolanaChain
from tests.api.test_quotes_stores_analytics import operator_key
from tests.conftest import RECIPIENT
from tests.test_cli_stores import cli
from watcher.solana.adapter import SolanaAdapter


async def test_the_api_reads_and_sets_the_opt_in(api: TestClient, pool: asyncpg.Pool) -> None:
    ops = await operator_key(pool)
    made = await api.post("/v1/stores", headers=ops, json={
        "slug": "exch", "name": "Exch", "solana_recipient": RECIPIENT})
    assert made.status == 201, await made.text()
    assert (await made.json())["solana_unique_amount"] is False
    on = await api.post("/v1/stores/exch", headers=ops, json={"solana_unique_amount": True})
    assert on.status == 200
    assert (await on.json())["solana_unique_amount"] is True
    assert await pool.fetchval("SELECT solana_unique_amount FROM stores") is True
    bad = await api.post("/v1/stores/exch", headers=ops, json={"solana_unique_amount": "x"})
    assert bad.status in (400, 422)


async def test_the_cli_sets_and_clears_the_opt_in(db_dsn: str, pool: asyncpg.Pool) -> None:
    assert cli(db_dsn, "stores", "create", "Shop", "--solana-recipient",
               RECIPIENT).returncode == 0
    done = cli(db_dsn, "stores", "update", "shop", "--solana-unique-amount")
    assert done.returncode == 0, done.stderr
    assert await pool.fetchval("SELECT solana_unique_amount FROM stores") is True
    assert cli(db_dsn, "stores", "update", "shop", "--no-solana-unique-amount").returncode == 0
    assert await pool.fetchval("SELECT solana_unique_amount FROM stores") is False


def test_the_checkout_note_tells_a_unique_amount_payer_what_to_send() -> None:
    adapter = SolanaAdapter(SolanaChain())
    row = {"unique_amount": True, "amount_due": 1_500_000_010, "decimals": 9,
           "asset": "SOL", "recipient": RECIPIENT}
    note = adapter.pay_note(row)
    assert note is not None
    assert f"Send exactly 1.50000001 SOL to {RECIPIENT}" in note
    assert "fee must not be taken" in note
    plain = adapter.pay_note({**row, "unique_amount": False})
    assert plain is not None
    assert "cannot be matched" in plain
