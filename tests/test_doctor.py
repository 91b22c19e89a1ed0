"""`paywatch doctor`: against a healthy deployment every check passes; against a broken one each
broken part fails with what to do, nothing secret is printed, and the exit status is 1."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from paywatch.core.evm import EvmChain
from paywatch.core.settings import Settings
from paywatch.doctor import Check, diagnose
from simnet.server import SimnetServer
from tests.conftest import PAYWATCH, clean_env, free_port, make_store
from tests.evm.anvil import CHAIN_ID, anvil_process

MAINNET = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"


async def genesis_of(sim: SimnetServer) -> str:
    body = {"jsonrpc": "2.0", "id": 1, "method": "getGenesisHash", "params": []}
    async with aiohttp.ClientSession() as session, session.post(sim.rpc_url, json=body) as resp:
        return str((await resp.json())["result"])


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


async def test_a_healthy_deployment_passes_every_check(
        db_dsn: str, pool: asyncpg.Pool, sim: SimnetServer, api: TestClient,
        tmp_path: Path) -> None:
    _headers, store = await make_store(pool, "shop")
    await pool.execute("INSERT INTO webhook_endpoints (store_id, url, secret) "
                       "VALUES ($1, 'http://127.0.0.1:9/hook', 's')", store["id"])
    with anvil_process() as (evm_rpc, evm_ws):
        settings = Settings(
            database_url=db_dsn, data_dir=tmp_path, _env_file=None,
            solana_rpc_urls=[sim.rpc_url], solana_ws_urls=[sim.ws_url],
            solana_genesis_hash=await genesis_of(sim), webhook_allow_private=True,
            public_url=str(api.make_url("")).rstrip("/"),
            evm_chains=[EvmChain(name="anvil", chain_id=CHAIN_ID, rpc_urls=[evm_rpc],
                                 ws_urls=[evm_ws])])
        checks = await diagnose(settings)
    assert [(c.name, c.status) for c in checks if c.status != "ok"] == []
    names = by_name(checks)
    assert {"database", "migrations", "solana rpc", "solana websocket", "anvil rpc",
            "anvil websocket", "price SOL/USD", "price USDC/USD", "webhook shop",
            "public url"} <= set(names)
    assert "private cluster" in names["solana rpc"].detail
    assert f"chain id {CHAIN_ID}" in names["anvil rpc"].detail


async def test_each_broken_part_fails_with_what_to_do(
        db_dsn: str, pool: asyncpg.Pool, sim: SimnetServer, tmp_path: Path) -> None:
    _headers, store = await make_store(pool, "shop")
    await pool.execute("INSERT INTO webhook_endpoints (store_id, url, secret) "
                       "VALUES ($1, 'http://127.0.0.1:9/hook?token=SECRET-TOKEN', 's')",
                       store["id"])
    closed = free_port()
    with anvil_process() as (evm_rpc, _evm_ws):
        settings = Settings(
            database_url=db_dsn, data_dir=tmp_path, _env_file=None,
            solana_rpc_urls=[sim.rpc_url, f"http://127.0.0.1:{closed}/?api-key=RPC-SECRET"],
            solana_ws_urls=[f"ws://127.0.0.1:{closed}"], solana_genesis_hash=MAINNET,
            price_sources=["coingecko"],
            coingecko_url=f"http://127.0.0.1:{closed}/api/v3/simple/price",
            public_url=f"http://127.0.0.1:{closed}",
            evm_chains=[EvmChain(name="base", chain_id=8453, rpc_urls=[evm_rpc])])
        checks = await diagnose(settings)
    failed = {(c.name, c.detail.split(":")[0]) for c in checks if c.status == "fail"}
    assert ("solana websocket", "ws") in failed
    found = [c for c in checks if c.name == "solana rpc"]
    assert [c.status for c in found] == ["fail", "fail"]
    assert "is on a private cluster" in found[0].detail
    assert "not mainnet-beta" in found[0].detail
    names = by_name(checks)
    assert f"is chain {CHAIN_ID}, not 8453" in names["base rpc"].detail
    assert names["price SOL/USD"].status == "fail"
    assert names["webhook shop"].status == "fail"
    assert "ALLOW_PRIVATE" in (names["webhook shop"].fix or "")
    assert names["public url"].status == "fail"
    assert all(c.fix for c in checks if c.status == "fail")
    text = json.dumps([c.detail for c in checks])
    assert "RPC-SECRET" not in text
    assert "SECRET-TOKEN" not in text


def test_the_command_exits_1_and_says_so_in_text_and_json(empty_db_dsn: str,
                                                          tmp_path: Path) -> None:
    env = clean_env(PAYWATCH_DATABASE_URL=empty_db_dsn, PAYWATCH_DATA_DIR=str(tmp_path),
                    PAYWATCH_SOLANA_RPC_URLS=f"http://127.0.0.1:{free_port()}",
                    PAYWATCH_SOLANA_WS_URLS=f"ws://127.0.0.1:{free_port()}")
    outputs = {}
    for mode in ("text", "json"):
        out = tmp_path / f"doctor-{mode}.out"
        with out.open("w") as sink:
            code = subprocess.run([PAYWATCH, "doctor", *(["--json"] if mode == "json" else [])],
                                  env=env, cwd=tmp_path, stdout=sink,
                                  stderr=subprocess.STDOUT, timeout=120, check=False).returncode
        assert code == 1, out.read_text()
        outputs[mode] = out.read_text()
    report = json.loads(outputs["json"])
    assert report["ok"] is False
    migrations = next(c for c in report["checks"] if c["name"] == "migrations")
    assert migrations["status"] == "fail"
    assert "paywatch migrate up" in migrations["fix"]
    lines = outputs["text"].splitlines()
    assert any(line.startswith("FAIL  migrations") for line in lines)
    assert any(line.startswith("OK    database") for line in lines)
    assert any("-> run `paywatch migrate up`" in line for line in lines)


def test_a_bad_setting_is_a_failed_check_not_a_crash(tmp_path: Path) -> None:
    env = clean_env(PAYWATCH_API_PORT="not-a-port", PAYWATCH_DATA_DIR=str(tmp_path))
    out = tmp_path / "doctor.out"
    with out.open("w") as sink:
        code = subprocess.run([PAYWATCH, "doctor"], env=env, cwd=tmp_path, stdout=sink,
                              stderr=subprocess.STDOUT, timeout=60, check=False).returncode
    assert code == 1
    assert out.read_text().startswith("FAIL  configuration  PAYWATCH_API_PORT")
