"""API keys: created by the CLI, stored hashed, shown once; revoked keys are refused."""

from __future__ import annotations

import hashlib
import subprocess

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import PAYWATCH, clean_env

RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


def cli(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAYWATCH, *args], env=clean_env(PAYWATCH_DATABASE_URL=dsn),
                          capture_output=True, text=True, timeout=60, check=False)


def create_store_and_key(dsn: str, *key_args: str) -> str:
    store = cli(dsn, "stores", "create", "Demo Shop", "--solana-recipient", RECIPIENT)
    assert store.returncode == 0, store.stderr
    assert "created store demo-shop" in store.stdout
    key = cli(dsn, "keys", "create", "--store", "demo-shop", *key_args)
    assert key.returncode == 0, key.stderr
    return key.stdout.splitlines()[0]


@pytest.mark.slow
async def test_keys_are_stored_hashed_and_work_until_revoked(
        db_dsn: str, pool: asyncpg.Pool, api: TestClient) -> None:
    key = create_store_and_key(db_dsn, "--name", "checkout")
    assert key.startswith("pw_live_")
    assert len(key) == 51

    rows = await pool.fetch("SELECT key_hash, prefix, scopes FROM api_keys")
    assert len(rows) == 1
    assert bytes(rows[0]["key_hash"]) == hashlib.sha256(key.encode()).digest()
    assert rows[0]["prefix"] == key[:14]
    dump = " ".join(str(v) for r in await pool.fetch("SELECT * FROM api_keys") for v in r.values())
    assert key not in dump
    assert key[14:] not in dump

    auth = {"Authorization": f"Bearer {key}"}
    resp = await api.get("/v1/me", headers=auth)
    assert resp.status == 200
    body = await resp.json()
    assert body["store"]["slug"] == "demo-shop"
    assert "payments:write" in body["scopes"]

    revoke = cli(db_dsn, "keys", "revoke", key[:14])
    assert revoke.returncode == 0, revoke.stderr
    resp = await api.get("/v1/me", headers=auth)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "invalid_api_key"

    again = cli(db_dsn, "keys", "revoke", key[:14])
    assert again.returncode == 1
    assert "no active key" in again.stderr
    audit = await pool.fetch("SELECT action FROM audit_log ORDER BY id")
    assert [r["action"] for r in audit] == ["store.create", "api_key.create", "api_key.revoke"]


async def test_missing_and_malformed_keys_get_401(api: TestClient) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer nope"},
                    {"Authorization": "Bearer pw_live_" + "x" * 43}):
        resp = await api.get("/v1/me", headers=headers)
        assert resp.status == 401
        body = await resp.json()
        assert body["error"]["type"] == "authentication_error"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.slow
def test_scopes_are_validated_and_recorded(db_dsn: str) -> None:
    bad = cli(db_dsn, "keys", "create", "--store", "nowhere")
    assert bad.returncode == 1
    assert "no store with slug 'nowhere'" in bad.stderr
    create_store_and_key(db_dsn, "--scopes", "payments:read")
    wrong = cli(db_dsn, "keys", "create", "--store", "demo-shop", "--scopes", "payments:delete")
    assert wrong.returncode != 0
    assert "unknown scope 'payments:delete'" in wrong.stderr
    listing = cli(db_dsn, "keys", "list", "--store", "demo-shop")
    assert listing.returncode == 0
    assert "payments:read" in listing.stdout
    assert "pw_live_" in listing.stdout
    assert "active" in listing.stdout


def test_store_creation_refuses_bad_input(db_dsn: str) -> None:
    bad_key = cli(db_dsn, "stores", "create", "Shop", "--solana-recipient", "not-a-key")
    assert bad_key.returncode != 0
    assert "--solana-recipient" in bad_key.stderr
    create_store_and_key(db_dsn)
    dup = cli(db_dsn, "stores", "create", "Demo Shop")
    assert dup.returncode == 1
    assert "already exists" in dup.stderr


@pytest.mark.slow
def test_stores_update_sets_recipient_policy_and_assets(db_dsn: str) -> None:
    assert cli(db_dsn, "stores", "create", "Later Shop").returncode == 0
    usdc = "USDC:EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v:6"
    done = cli(db_dsn, "stores", "update", "later-shop", "--solana-recipient", RECIPIENT,
               "--asset", usdc, "--commitment", "finalized", "--cfv", "off")
    assert done.returncode == 0, done.stderr
    assert "accepts SOL, USDC" in done.stdout
    removed = cli(db_dsn, "stores", "update", "later-shop", "--remove-asset", "usdc")
    assert "accepts SOL" in removed.stdout
    assert "USDC" not in removed.stdout
    bad = cli(db_dsn, "stores", "update", "later-shop", "--asset", "USDC:nope:6")
    assert bad.returncode != 0
    assert "SYMBOL:MINT:DECIMALS" in bad.stderr
    missing = cli(db_dsn, "stores", "update", "nowhere", "--name", "x")
    assert missing.returncode == 1
