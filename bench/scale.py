"""Scale: the daemon's memory with many open payments, and the expiry sweep over a million stale
ones with its effect on API latency.

    .venv/bin/python bench/scale.py memory [--sizes 0,100000,1000000]
    .venv/bin/python bench/scale.py expiry [--stale 1000000] [--seconds 8] [--no-load]

memory: for each size, a fresh database with that many open Solana payments (bulk-inserted, each
with a reference shaped like a real one: a random 32-byte public key in base58), a `paywatch run`
process (its Solana watcher loads every open reference into memory); once /metrics says the index
holds them all, the process's RSS from /proc. Then, in this process with the daemon stopped, the
reference index alone loaded under tracemalloc: its bytes per payment (what stays, and the peak
while loading).
expiry: a fresh database with `--stale` payments past their expiry and a `paywatch run` whose
own sweep is held off; wrk reads GET /v1/payments/{id} for `--seconds` as a baseline, then again
for exactly as long as this script runs the same sweep the daemon runs, and prints the sweep's
time and rate, the API latency before and during it, and the ratio of the p99s. With --no-load,
the sweep alone (no wrk): its own speed, apart from what the API takes of the cores.
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
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from solders.pubkey import Pubkey

from bench.api_load import GET_LUA
from bench.common import BIN, database, wait_ready
from bench.seed import any_payment_id, count_by_status, seed_payments, sol_quote
from bench.solana_watcher import store_and_key
from db.pool import create_pool
from paywatch.services.sweeps import expire_payments
from tests.conftest import free_port
from watcher.solana.index import ReferenceIndex

RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"

# Benchmark data only (like bench/seed.py): bench/seed.py's open payments, with the references
# given as $3 (real-shaped ones, 44 characters of base58 like those the API makes).
SEED_REFERENCED = """
INSERT INTO payments (store_id, chain, asset, decimals, recipient, reference, amount_due,
    required_commitment, currency, fiat_amount, fiat_amount_due, price, price_source, price_at,
    quote, payment_url, request_type, created_at, expires_at, monitor_until)
SELECT $1, 'solana', 'SOL', 9, $2, r, 6666667, 'confirmed', 'USD', 1, 1, 150, 'static', now(),
       $4::jsonb, 'solana:' || $2, 'solana_pay', now() - interval '1 minute',
       now() + interval '1 day', now() + interval '2 days'
FROM unnest($3::text[]) AS r
"""

ANALYZE_PAYMENTS = "ANALYZE payments"


async def seed_open(conn: Any, store_id: Any, count: int, batch: int = 50_000) -> None:
    quote = await sol_quote()
    for start in range(0, count, batch):
        refs = [str(Pubkey(os.urandom(32))) for _ in range(min(batch, count - start))]
        await conn.execute(SEED_REFERENCED, store_id, RECIPIENT, refs, quote)
        print(f"  inserted {start + len(refs):,}/{count:,}", end="\r", flush=True)


async def seeded(admin: str, count: int, stale: bool) -> tuple[str, str, Any]:
    """A fresh database with `count` payments (open, or already past expiry)."""
    from datetime import timedelta

    dsn = await database(admin)
    pool = await create_pool(dsn)
    key, store_id = await store_and_key(pool, RECIPIENT)
    started = time.perf_counter()
    async with pool.acquire() as conn:
        if stale:
            await seed_payments(conn, store_id, RECIPIENT, count, await sol_quote(),
                                timedelta(minutes=-1),
                                progress=lambda n: print(f"  inserted {n:,}/{count:,}",
                                                         end="\r", flush=True))
        else:
            await seed_open(conn, store_id, count)
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

    try:  # a daemon busy loading a million rows may answer late: not yet, then
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:  # noqa: S310
            text = resp.read().decode()
    except TimeoutError:
        return -1
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
            # Not /readyz: no Solana endpoint here, so the chain is never healthy.
            wait_ready(base, "/healthz")
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
        if size:
            await index_bytes(dsn, size)
    base_rss = rows[0][2]
    for size, _, rss in rows[1:]:
        print(f"  {size:,}: +{rss - base_rss:.0f} MiB over empty = "
              f"{(rss - base_rss) * 2**20 / size:.0f} bytes per open payment")


async def index_bytes(dsn: str, size: int) -> None:
    """The reference index alone: Python memory it keeps after loading, and its peak."""
    pool = await create_pool(dsn, max_size=2)
    try:
        tracemalloc.start()
        index = ReferenceIndex(pool)
        await index.load()
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # getsizeof totals of the packed store, where it has them (not before issue 20)
        packed = getattr(getattr(index, "payments", None), "nbytes", lambda: 0)()
        print(f"  index alone ({len(index):,} payments, tracemalloc): {held / size:.0f} bytes "
              f"per payment held, {peak / size:.0f} at the peak of loading"
              + (f"; its buffers {packed / size:.0f} bytes per payment" if packed else ""))
    finally:
        await pool.close()


def wrk_start(url: str, lua: str, connections: int, seconds: int) -> subprocess.Popen[str]:
    """wrk in its own process for `seconds` (or until `wrk_stop`: SIGINT makes it report)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    return subprocess.Popen(["wrk", f"-t{min(2, connections)}", f"-c{connections}",
                             f"-d{seconds}s", "--latency", "-s", script.name, url],
                            stdout=subprocess.PIPE, text=True)


def wrk_stop(proc: subprocess.Popen[str], now: bool) -> tuple[float, float, float]:
    """req/s, p50 and p99 in ms."""
    if now:
        proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=600)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"  warning: {errors.group(1)} non-2xx responses")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rps, _ms(out, "50%"), _ms(out, "99%")


def _ms(out: str, which: str) -> float:
    found = re.search(rf"^\s+{which}\s+([\d.]+)(us|ms|s)$", out, re.M)
    assert found is not None, out
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


async def cloned(admin: str, template: str) -> str:
    """A fresh copy of `template` (a database this script seeded before: repeated runs skip
    the minutes of seeding)."""
    import asyncpg

    from bench.common import with_database

    if not re.fullmatch(r"[a-z0-9_]+", template):
        raise SystemExit("--template: a plain database name")
    name = f"pwbench_{os.urandom(4).hex()}"
    conn = await asyncpg.connect(admin)
    try:  # CREATE DATABASE takes no parameters: both names are checked above
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return with_database(admin, name)


async def expiry(admin: str, stale: int, seconds: int, template: str | None = None,
                 key: str | None = None, load: bool = True) -> None:
    if template and key:
        dsn = await cloned(admin, template)
    else:
        dsn, key, _ = await seeded(admin, stale, stale=True)
    print(f"  database {dsn.rsplit('/', 1)[-1]}, API key {key} (for --template, --key)")
    port = free_port()
    proc = daemon(dsn, port, PAYWATCH_EXPIRY_SWEEP_SECONDS="3600", PAYWATCH_SOLANA_WATCH="false")
    base = f"http://127.0.0.1:{port}"
    pool = await create_pool(dsn, max_size=4)
    try:
        # What autovacuum does within a minute of a bulk load: without statistics the planner
        # may sort all stale rows for each batch, and the figure would measure that.
        await pool.execute(ANALYZE_PAYMENTS)
        wait_ready(base)
        payment_id = await any_payment_id(pool)
        url, lua = f"{base}/v1/payments/{payment_id}", GET_LUA % key
        if load:
            before = await asyncio.to_thread(wrk_stop, wrk_start(url, lua, 8, seconds), False)
            print(f"API before the sweep: {before[0]:.0f} req/s, p50 {before[1]:.2f} ms, "
                  f"p99 {before[2]:.2f} ms")
            wrk = wrk_start(url, lua, 8, 3600)
        started = time.perf_counter()
        expired = await expire_payments(pool)
        took = time.perf_counter() - started
        if load:
            during = await asyncio.to_thread(wrk_stop, wrk, True)
        left = await count_by_status(pool, "pending")
        print(f"expiry sweep{'' if load else ' (no API load)'}: {expired:,} payments expired "
              f"in {took:.1f} s ({expired / took:,.0f}/s); {left} left pending")
        if load:
            print(f"API during the sweep (wrk for all of it): {during[0]:.0f} req/s, "
                  f"p50 {during[1]:.2f} ms, p99 {during[2]:.2f} ms")
            print(f"p99 during / before: {during[2] / before[2]:.2f}")
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
    parser.add_argument("--template", help="expiry: clone this database seeded before, "
                        "instead of seeding (with --key, the API key printed then)")
    parser.add_argument("--key")
    parser.add_argument("--no-load", action="store_true",
                        help="expiry: the sweep alone, no API load beside it")
    args = parser.parse_args()
    admin = os.environ.get("PAYWATCH_DATABASE_URL")
    if not admin:
        raise SystemExit("set PAYWATCH_DATABASE_URL to a PostgreSQL server")
    if args.what == "memory":
        await memory(admin, [int(s) for s in args.sizes.split(",")])
    else:
        await expiry(admin, args.stale, args.seconds, args.template, args.key,
                     load=not args.no_load)


if __name__ == "__main__":
    asyncio.run(main())
