"""`paywatch stores update` as an operator types it, against a real database."""

from __future__ import annotations

import subprocess

import asyncpg
import pytest

from tests.conftest import PAYWATCH, RECIPIENT, USDC_MINT, clean_env

NEW_MINT = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY5NH6xWyhwDLbYP"


def cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAYWATCH, *args], env=clean_env(PAYWATCH_DATABASE_URL=dsn),
                          capture_output=True, text=True, timeout=60, check=False)


async def test_replacing_an_asset_removes_the_old_one_before_adding_the_new(
        db_dsn: str, pool: asyncpg.Pool) -> None:
    made = cli(db_dsn, "stores", "create", "Shop", "--solana-recipient", RECIPIENT,
               "--asset", f"USDC:{USDC_MINT}:6")
    assert made.returncode == 0, made.stderr
    # One command that swaps USDC's mint: the removal applies first, then the addition.
    done = cli(db_dsn, "stores", "update", "shop", "--remove-asset", "USDC",
               "--asset", f"USDC:{NEW_MINT}:6")
    assert done.returncode == 0, done.stderr
    assert "accepts SOL, USDC" in done.stdout
    rows = await pool.fetch("SELECT asset, mint, enabled FROM store_assets ORDER BY asset")
    assert [(r["asset"], r["mint"], r["enabled"]) for r in rows] == [
        ("SOL", None, True), ("USDC", NEW_MINT, True)]


@pytest.mark.slow
async def test_sol_stays_removed_until_the_recipient_changes(db_dsn: str,
                                                            pool: asyncpg.Pool) -> None:
    assert cli(db_dsn, "stores", "create", "Shop", "--solana-recipient", RECIPIENT,
               "--asset", f"USDC:{USDC_MINT}:6").returncode == 0
    removed = cli(db_dsn, "stores", "update", "shop", "--remove-asset", "SOL")
    assert removed.returncode == 0, removed.stderr
    assert "accepts USDC" in removed.stdout
    # An unrelated change does not bring SOL back behind the operator's back.
    other = cli(db_dsn, "stores", "update", "shop", "--cfv", "off")
    assert "accepts USDC" in other.stdout
    assert "SOL" not in other.stdout
    # Setting the recipient is what makes a store accept SOL.
    again = cli(db_dsn, "stores", "update", "shop", "--solana-recipient", RECIPIENT)
    assert "accepts SOL, USDC" in again.stdout
    enabled = await pool.fetch("SELECT asset FROM store_assets WHERE enabled ORDER BY asset")
    assert [r["asset"] for r in enabled] == ["SOL", "USDC"]


async def test_finalized_above_takes_ascii_digits_only(db_dsn: str, pool: asyncpg.Pool) -> None:
    assert cli(db_dsn, "stores", "create", "Shop", "--solana-recipient",
               RECIPIENT).returncode == 0
    # Python's Decimal reads Arabic-Indic digits as 12: the CLI, like the API, must not.
    refused = cli(db_dsn, "stores", "update", "shop", "--finalized-above", "١٢")
    assert refused.returncode != 0
    assert "--finalized-above" in refused.stderr
    assert await pool.fetchval("SELECT finalized_above FROM stores") is None
    assert cli(db_dsn, "stores", "update", "shop", "--finalized-above", "12.50").returncode == 0
    assert str(await pool.fetchval("SELECT finalized_above FROM stores")).startswith("12.5")


async def test_a_currency_must_be_iso_4217_as_in_the_api(db_dsn: str, pool: asyncpg.Pool) -> None:
    # Three letters are not enough: the API refuses "XYZ", so the CLI must not store it.
    refused = cli(db_dsn, "stores", "create", "Shop", "--currency", "xyz")
    assert refused.returncode != 0
    assert "--currency" in refused.stderr
    assert await pool.fetchval("SELECT count(*) FROM stores") == 0
    made = cli(db_dsn, "stores", "create", "Shop", "--currency", "eur")
    assert made.returncode == 0, made.stderr
    assert await pool.fetchval("SELECT default_currency FROM stores") == "EUR"


async def test_cli_updates_audit_the_store_before_and_after_like_the_api(
        db_dsn: str, pool: asyncpg.Pool) -> None:
    """One update use case (services/stores) for the API and the CLI: the audit row holds the
    whole store, as the API shows it, before and after."""
    assert cli(db_dsn, "stores", "create", "Shop", "--solana-recipient", RECIPIENT).returncode == 0
    done = cli(db_dsn, "stores", "update", "shop", "--finalized-above", "12.50",
               "--asset", f"USDC:{USDC_MINT}:6")
    assert done.returncode == 0, done.stderr
    row = await pool.fetchrow("SELECT before, after FROM audit_log "
                              "WHERE action = 'store.update'")
    assert (row["before"]["object"], row["after"]["object"]) == ("store", "store")
    assert (row["before"]["finalized_above"], row["after"]["finalized_above"]) == (
        None, "12.50000000")
    assert [a["asset"] for a in row["before"]["assets"]] == ["SOL"]
    assert [a["asset"] for a in row["after"]["assets"]] == ["SOL", "USDC"]
