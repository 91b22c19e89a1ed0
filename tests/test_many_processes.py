"""Several paywatch processes on one PostgreSQL: one watcher leads the chain and a standby
takes over when it is killed; jobs in two processes never do the same work twice."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import asyncpg
import pytest
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair

from simnet.wallet import Wallet
from tests.conftest import PAYWATCH, clean_env, free_port, simnet_process
from tests.test_daemon import start, wait_ready
from tests.watcher.test_run_with_simnet import MERCHANT, post

LEADER = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objid = $1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""  # advisory locks are per database: another test's daemons on the same server hold theirs


def fetchval(dsn: str, query: str, *args: object) -> object:
    async def go() -> object:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    return asyncio.run(go())


def leader_pid(dsn: str) -> int | None:
    name = fetchval(dsn, LEADER, 0x70617701)
    return int(str(name).rsplit("-", 1)[1]) if name else None


def wait_for_leader(dsn: str, not_pid: int | None = None, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while True:
        pid = leader_pid(dsn)
        if pid is not None and pid != not_pid:
            return pid
        assert time.monotonic() < deadline, "no process took the lead"
        time.sleep(0.2)


def store_and_key(env: dict[str, str], cwd: Path) -> str:
    cli = {"env": env, "cwd": cwd, "capture_output": True, "text": True, "check": True,
           "timeout": 120}
    subprocess.run([PAYWATCH, "stores", "create", "Demo", "--solana-recipient", MERCHANT],
                   **cli)
    return subprocess.run([PAYWATCH, "keys", "create", "--store", "demo"],
                          **cli).stdout.splitlines()[0]


@pytest.mark.slow
def test_a_standby_takes_over_when_the_leader_is_killed(db_dsn: str,
                                                        tmp_path: Path) -> None:
    with simnet_process(tmp_path) as (rpc_url, ws_url):
        takeover(db_dsn, tmp_path, rpc_url, ws_url)


def takeover(db_dsn: str, tmp_path: Path, rpc_url: str, ws_url: str) -> None:
    env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_SOLANA_RPC_URLS=rpc_url,
                    PAYWATCH_SOLANA_WS_URLS=ws_url)
    cli = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True, "check": True,
           "timeout": 120}
    daemons: list[subprocess.Popen[str]] = []
    try:
        subprocess.run([PAYWATCH, "simnet", "airdrop", MERCHANT, "1", "--rpc-url", rpc_url],
                       **cli)
        key = store_and_key(env, tmp_path)
        bases = []
        for _ in range(2):
            proc, base = start({**env, "PAYWATCH_API_PORT": str(free_port())}, tmp_path)
            daemons.append(proc)
            bases.append(base)
            wait_ready(base, proc)
        first = wait_for_leader(db_dsn)
        assert first in {d.pid for d in daemons}
        leader = next(d for d in daemons if d.pid == first)
        leader.send_signal(signal.SIGKILL)
        leader.wait(timeout=30)
        second = wait_for_leader(db_dsn, not_pid=first)
        survivor = next(d for d in daemons if d.pid == second)
        base = bases[daemons.index(survivor)]
        payment = post(f"{base}/v1/payments", key, {"amount": "30", "currency": "USD",
                                                    "asset": "SOL"})
        subprocess.run([PAYWATCH, "simnet", "pay", payment["payment_request"]["url"],
                        "--rpc-url", rpc_url, "--state-dir", str(tmp_path / "w")], **cli)
        deadline = time.monotonic() + 60
        while True:
            request = urllib.request.Request(f"{base}/v1/payments/{payment['id']}",  # noqa: S310
                                             headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                status = json.loads(resp.read())["status"]
            if status == "confirmed" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == "confirmed"
    finally:
        for d in daemons:
            if d.poll() is None:
                d.send_signal(signal.SIGTERM)
                d.communicate(timeout=30)
    assert survivor.returncode == 0


@pytest.mark.slow
def test_two_daemons_expire_each_payment_once(db_dsn: str, tmp_path: Path) -> None:
    env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_SOLANA_WATCH="false",
                    PAYWATCH_EXPIRY_SWEEP_SECONDS="0.2")
    key = store_and_key(env, tmp_path)
    daemons = []
    try:
        for _ in range(2):
            proc, base = start({**env, "PAYWATCH_API_PORT": str(free_port())}, tmp_path)
            daemons.append(proc)
            wait_ready(base, proc)
        for _ in range(200):
            post(f"{base}/v1/payments", key, {"amount": "1", "currency": "USD", "asset": "SOL"})
        fetchval(db_dsn, "UPDATE payments SET created_at = now() - interval '1 hour', "
                         "expires_at = now() - interval '1 minute' RETURNING 1")
        deadline = time.monotonic() + 30
        while fetchval(db_dsn, "SELECT count(*) FROM payments WHERE status = 'pending'"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        for d in daemons:
            d.send_signal(signal.SIGTERM)
            d.communicate(timeout=30)
    assert fetchval(db_dsn, "SELECT count(DISTINCT payment_id) FROM events "
                            "WHERE type = 'payment.expired'") == 200
    assert fetchval(db_dsn, "SELECT count(*) FROM events WHERE type = 'payment.expired'") == 200
    assert [d.returncode for d in daemons] == [0, 0]


@pytest.mark.slow
def test_sigterm_during_a_burst_of_payments_loses_nothing(db_dsn: str, tmp_path: Path) -> None:



    with simnet_process(tmp_path) as (rpc_url, ws_url):
        burst_and_restart(db_dsn, tmp_path, rpc_url, ws_url)
    assert fetchval(db_dsn, "SELECT count(*) FROM transfers WHERE status <> 'rejected'") == 40
    assert fetchval(db_dsn, "SELECT count(*) FROM events WHERE type = 'payment.confirmed'") == 40
    assert fetchval(db_dsn, "SELECT count(DISTINCT payment_id) FROM events "
                            "WHERE type = 'payment.confirmed'") == 40


def burst_and_restart(db_dsn: str, tmp_path: Path, rpc_url: str, ws_url: str) -> None:
    env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_SOLANA_RPC_URLS=rpc_url,
                    PAYWATCH_SOLANA_WS_URLS=ws_url, PAYWATCH_API_RATE_LIMIT_PER_MINUTE="1000000")
    first = second = None
    try:
        subprocess.run([PAYWATCH, "simnet", "airdrop", MERCHANT, "1", "--rpc-url", rpc_url],
                       env=env, cwd=tmp_path, capture_output=True, check=True, timeout=120)
        key = store_and_key(env, tmp_path)
        first, base = start(env, tmp_path)
        wait_ready(base, first)
        urls = [post(f"{base}/v1/payments", key, {"amount": "1", "currency": "USD",
                                                  "asset": "SOL"})["payment_request"]["url"]
                for _ in range(40)]

        async def pay_all() -> None:
            async with AsyncClient(rpc_url, commitment="confirmed") as client:
                wallet = Wallet(Keypair(), client)
                await wallet.airdrop(wallet.pubkey, 50 * 10**9)
                await asyncio.gather(*(wallet.pay(u) for u in urls))

        burst = threading.Thread(target=asyncio.run, args=(pay_all(),))
        burst.start()
        time.sleep(0.5)  # the burst is under way
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
        burst.join(timeout=120)
        second, base = start({**env, "PAYWATCH_API_PORT": str(free_port())}, tmp_path)
        wait_ready(base, second)
        deadline = time.monotonic() + 60
        while fetchval(db_dsn, "SELECT count(*) FROM payments WHERE status <> 'confirmed'"):
            assert time.monotonic() < deadline, "not every paid payment was confirmed"
            time.sleep(0.2)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=30)
    assert first is not None
    assert first.returncode == 0
