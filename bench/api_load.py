"""API throughput: POST /v1/payments and GET /v1/payments/{id} under load from wrk, a separate
process, against a real `paywatch run` (one process) on PostgreSQL, side by side with a bare
aiohttp server answering the same routes (bench/bare_aiohttp.py: the ceiling on this machine).

    apt-get install wrk   # the load generator (Debian package)
    .venv/bin/python bench/api_load.py [--connections 1,8,32,128] [--seconds 10]

Uses a fresh database on PAYWATCH_DATABASE_URL's server when set (dropped at the end), else an
embedded PostgreSQL in a temporary directory. Prints requests/second and latency per endpoint
and concurrency, paywatch's share of bare aiohttp for each row (same run), and at the end
whether every payment the POSTs made has its payment.created event and its audit row, and
that synchronous_commit was on; asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BIN, admin_server, database, paywatch, wait_ready

RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
POST_LUA = """
wrk.method = "POST"
wrk.body = '{"amount": "25.00", "currency": "USD", "asset": "SOL", "memo": "bench"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""
GET_LUA = """
wrk.headers["Authorization"] = "Bearer %s"
"""
# What the POSTs left behind: each payment, its payment.created event, its audit row.
DURABILITY = """
SELECT (SELECT count(*) FROM payments) AS payments,
       (SELECT count(*) FROM events WHERE type = 'payment.created') AS events,
       (SELECT count(*) FROM audit_log WHERE action = 'payment.create') AS audits,
       current_setting('synchronous_commit') AS synchronous_commit
"""


def wrk(url: str, lua: str, connections: int, seconds: int) -> tuple[float, str, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    threads = min(2, connections)  # wrk wants at least one connection per thread
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
                          "--latency", "-s", script.name, url], capture_output=True, text=True,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"  warning: {errors.group(1)} non-2xx responses")
    return rps, p50, p99


def durability(dsn: str) -> str:
    async def count() -> asyncpg.Record:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchrow(DURABILITY)
        finally:
            await conn.close()
    row = asyncio.run(count())
    whole = row["payments"] == row["events"] == row["audits"]
    return (f"{row['payments']} payments, {row['events']} payment.created events, "
            f"{row['audits']} payment.create audit rows ({'all' if whole else 'NOT all'} "
            f"complete); synchronous_commit={row['synchronous_commit']}")


async def fresh_database() -> str | None:
    """A migrated database of its own on PAYWATCH_DATABASE_URL's server (None: embedded)."""
    if not os.environ.get("PAYWATCH_DATABASE_URL"):
        return None
    async with admin_server() as admin:
        return await database(admin)


async def drop_database(dsn: str) -> None:
    admin = os.environ["PAYWATCH_DATABASE_URL"]
    name = dsn.rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin)
    try:
        # DROP DATABASE takes no parameters; the name is bench.common's, quoted.
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", default="1,8,32,128")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--port", type=int, default=18090)
    parser.add_argument("--routes", default="post,get", help="which rows: post, get or both")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    data = tempfile.mkdtemp(prefix="pw-bench-")
    dsn = asyncio.run(fresh_database())
    env = {**os.environ, "PAYWATCH_DATA_DIR": data, "PAYWATCH_API_PORT": str(args.port),
           "PAYWATCH_API_RATE_LIMIT_PER_MINUTE": "100000000", "PAYWATCH_LOG_LEVEL": "WARNING",
           "PAYWATCH_SOLANA_WATCH": "false"}  # no chain here: /readyz would wait for one
    if dsn is not None:
        env["PAYWATCH_DATABASE_URL"] = dsn
    slug = f"bench-{int(time.time())}"
    daemon = subprocess.Popen([str(BIN / "paywatch"), "run"], env=env)
    bare_port = args.port + 1
    bare = subprocess.Popen([sys.executable, str(Path(__file__).with_name("bare_aiohttp.py")),
                             str(bare_port)])
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_ready(base)
        paywatch(env, "stores", "create", slug, "--solana-recipient", RECIPIENT)
        key = paywatch(env, "keys", "create", "--store", slug).splitlines()[0]
        req = urllib.request.Request(f"{base}/v1/payments", method="POST", headers={  # noqa: S310
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            data=b'{"amount": "25", "currency": "USD", "asset": "SOL"}')
        with urllib.request.urlopen(req) as resp:  # noqa: S310
            payment_id = json.load(resp)["id"]
        print(f"paywatch run (1 process), wrk -t2, {args.seconds} s per run, "
              f"{os.cpu_count()} cores")
        print(f"{'endpoint':<24}{'conns':>6}{'req/s':>9}{'p50':>10}{'p99':>10}"
              f"{'bare req/s':>12}{'share':>8}")
        bare_base = f"http://127.0.0.1:{bare_port}"
        rows = [("POST /v1/payments", "/v1/payments", POST_LUA % key, "post"),
                ("GET /v1/payments/{id}", f"/v1/payments/{payment_id}", GET_LUA % key, "get")]
        for conns in (int(c) for c in args.connections.split(",")):
            for name, path, lua, _ in (r for r in rows if r[3] in args.routes.split(",")):
                rps, p50, p99 = wrk(base + path, lua, conns, args.seconds)
                ceiling, _, _ = wrk(bare_base + path, lua, conns, args.seconds)
                print(f"{name:<24}{conns:>6}{rps:>9.0f}{p50:>10}{p99:>10}{ceiling:>12.0f}"
                      f"{rps / ceiling:>8.2f}", flush=True)
        if dsn is not None:
            print(durability(dsn))
    finally:
        daemon.send_signal(signal.SIGTERM)
        bare.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        bare.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
        if dsn is not None:
            asyncio.run(drop_database(dsn))


if __name__ == "__main__":
    main()
