"""Scale: the daemon's memory with many open payments, and the expiry sweep over a million stale
ones with its effect on API latency.

    .venv/bin/python bench/scale.py memory [--sizes 0,100000,1000000]
    .venv/bin/python bench/scale.py expiry [--stale 1000000] [--seconds 8]

memory: for each size, a fresh database with that many open Solana payments (bulk-inserted), a
`paywatch run` process (its Solana watcher loads every open reference into memory); once
/metrics says the index holds them all, the process's RSS from /proc.
expiry: a fresh database with `--stale` payments past their expiry and a `paywatch run` whose
own sweep is held off; wrk reads GET /v1/payments/{id} for `--seconds` as a baseline, then again
while this script runs the same sweep the daemon runs (5,000 per statement), and prints the
sweep's time and rate and the API latency before and during it.
Needs PAYWATCH_DATABASE_URL (a server to create databases on). Asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api_load import GET_LUA, wait_ready, wrk
from bench.common import database
from bench.seed import any_payment_id, count_by_status, seed_payments, sol_quote
from bench.solana_watcher import store_and_key
from db.pool import create_pool
from paywatch.services.sweeps import expire_payments
from tests.conftest import free_port

BIN = Path(sys.executable).parent
RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


async def seeded(admin: str, count: int, stale: bool) -> tuple[str, str, Any]:
    """A fresh database with `count` payments (open, or already past expiry)."""
    from datetime import timedelta

    dsn = await database(admin)
    pool = await create_pool(dsn)
    key, store_id = await store_and_key(pool, RECIPIENT)
    started = time.perf_counter()
    async with pool.acquire() as conn:
        await seed_payments(conn, store_id, RECIPIENT, count, await sol_quote(),
                            timedelta(minutes=-1) if stale else timedelta(days=1),
                            progress=lambda n: print(f"  inserted {n:,}/{count:,}", end="\r",
                                                     flush=True))
    if count:
        print(f"\n  {count:,} payments inserted in {time.perf_counter() - started:.0f} s")
    await pool.close()
    return dsn, key, store_id


def daemon(dsn: str, port: int, **env: str) -> subprocess.Popen[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PAYWATCH_")}
    full |= {"PAYWATCH_DATABASE_URL": dsn, "PAYWATCH_API_PORT": str(port),
             "PAYWATCH_LOG_LEVEL": "WARNING", "PAYWATCH_API_RATE_LIMIT_PER_MINUTE": "100000000",
             "PAYWATCH_DATA_DIR": tempfile.mkdtemp(prefix="pw-scale-"), **env}
    return subprocess.Popen([str(BIN / "paywatch"), "run"], env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def open_in_index(base: str) -> int:
    import urllib.request

    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:  # noqa: S310
        text = resp.read().decode()
    found = re.search(r'paywatch_open_payments\{chain="solana"\} ([\d.e+]+)', text)
    return int(float(found.group(1))) if found else -1


async def memory(admin: str, sizes: list[int]) -> None:
    rows = []
    for size in sizes:
        dsn, _, _ = await seeded(admin, size, stale=False)
        port = free_port()
        proc = daemon(dsn, port)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base)
            deadline = time.monotonic() + 300
            while open_in_index(base) < size and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            await asyncio.sleep(2)
            rows.append((size, open_in_index(base), rss_mib(proc.pid)))
            print(f"{size:>9,} open payments: index holds {rows[-1][1]:,}, "
                  f"RSS {rows[-1][2]:.0f} MiB")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    base_rss = rows[0][2]
    for size, _, rss in rows[1:]:
        print(f"  {size:,}: +{rss - base_rss:.0f} MiB over empty = "
              f"{(rss - base_rss) * 2**20 / size:.0f} bytes per open payment")


async def expiry(admin: str, stale: int, seconds: int) -> None:
    dsn, key, _ = await seeded(admin, stale, stale=True)
    port = free_port()
    proc = daemon(dsn, port, PAYWATCH_EXPIRY_SWEEP_SECONDS="3600", PAYWATCH_SOLANA_WATCH="false")
    base = f"http://127.0.0.1:{port}"
    pool = await create_pool(dsn, max_size=4)
    try:
        wait_ready(base)
        payment_id = await any_payment_id(pool)
        url, lua = f"{base}/v1/payments/{payment_id}", GET_LUA % key
        before = await asyncio.to_thread(wrk, url, lua, 8, seconds)
        print(f"API before the sweep: {before[0]:.0f} req/s, p50 {before[1]}, p99 {before[2]}")
        load = asyncio.create_task(asyncio.to_thread(wrk, url, lua, 8, seconds))
        started = time.perf_counter()
        expired = await expire_payments(pool)
        took = time.perf_counter() - started
        during = await load
        left = await count_by_status(pool, "pending")
        print(f"expiry sweep: {expired:,} payments expired in {took:.1f} s "
              f"({expired / took:,.0f}/s, 5,000 per statement); {left} left pending")
        print(f"API during the sweep: {during[0]:.0f} req/s, p50 {during[1]}, p99 {during[2]} "
              f"(wrk ran {seconds} s; the sweep overlapped {min(took, seconds):.1f} s of it)")
    finally:
        await pool.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["memory", "expiry"])
    parser.add_argument("--sizes", default="0,100000,1000000")
    parser.add_argument("--stale", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    admin = os.environ.get("PAYWATCH_DATABASE_URL")
    if not admin:
        raise SystemExit("set PAYWATCH_DATABASE_URL to a PostgreSQL server")
    if args.what == "memory":
        await memory(admin, [int(s) for s in args.sizes.split(",")])
    else:
        await expiry(admin, args.stale, args.seconds)


if __name__ == "__main__":
    asyncio.run(main())
