"""Exports stream in constant memory: a real `paywatch run` answers GET /v1/exports/payments
(and /transfers) for 10,000 and then 100,000 confirmed payments with their transfers, and its
peak RSS (VmHWM from /proc/PID/status) is read before and after each export.

    .venv/bin/python bench/exports.py [--payments 100000] [--small 10000]

Uses PAYWATCH_DATABASE_URL's server when set (a fresh database on it), else an embedded
PostgreSQL in a temporary directory. Prints rows, seconds, rows/s, bytes and the peak RSS;
asserts nothing. Linux only (/proc)."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, admin_server, database, paywatch, wait_ready
from bench.seed import seed_payments, sol_quote
from db.pool import connect

RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
# Every seeded payment confirmed, the first `small` in the hour after T0 and the rest in the
# hour after that, each paid by one matched transfer valued at the quote and at the market.
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SETTLE = """
UPDATE payments p SET status = 'confirmed', amount_received = amount_due,
    created_at = $1::timestamptz + q.n * interval '1 ms',
    expires_at = $1::timestamptz + interval '1 day',
    monitor_until = $1::timestamptz + interval '2 days',
    confirmed_at = CASE WHEN q.n <= $2::int
                        THEN $1::timestamptz + (q.n - 1) * (interval '1 hour' / $2::int)
                        ELSE $1::timestamptz + interval '1 hour'
                             + (q.n - $2::int - 1) * (interval '1 hour' / $3::int) END
FROM (SELECT id, row_number() OVER (ORDER BY reference) AS n FROM payments) q
WHERE q.id = p.id
"""
PAY = """
INSERT INTO transfers (chain, tx_id, index, payment_id, asset, sender, recipient, amount, slot,
    status, confirmed_at, matched_by, currency, fiat_at_quote, market_price,
    market_price_source, market_price_at, fiat_at_confirmation)
SELECT 'solana', 'benchtx' || p.reference, 0, p.id, 'SOL',
       'Sender1111111111111111111111111111111111111', p.recipient, p.amount_due, 1, 'finalized',
       p.confirmed_at, 'reference', p.currency, 1.00000005, 151, 'static', p.confirmed_at,
       1.00666672
FROM payments p
"""


def start_daemon(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`paywatch run`, its output to a file (never an unread pipe)."""
    with log_path.open("w") as log:
        return subprocess.Popen([str(BIN / "paywatch"), "run"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc: Linux only")


def export(base: str, key: str, kind: str, start: datetime, end: datetime,
           fmt: str) -> tuple[int, int, float]:
    """(rows, bytes, seconds) of one export, read in 64 KiB pieces and thrown away."""
    url = (f"{base}/v1/exports/{kind}?from={start.isoformat().replace('+00:00', 'Z')}"
           f"&to={end.isoformat().replace('+00:00', 'Z')}&format={fmt}")
    request = urllib.request.Request(  # noqa: S310 (our own http:// URL)
        url, headers={"Authorization": f"Bearer {key}"})
    started, size, lines = time.perf_counter(), 0, 0
    with urllib.request.urlopen(request, timeout=600) as resp:  # noqa: S310
        while piece := resp.read(65536):
            size += len(piece)
            lines += piece.count(b"\n")
    # CSV: a header line, then a line per row; JSON: "[", an object per line, "]"
    return lines - (1 if fmt == "csv" else 2), size, time.perf_counter() - started


async def seed(dsn: str, env: dict[str, str], payments: int, small: int) -> str:
    paywatch(env, "stores", "create", "Bench Books", "--slug", "bench-books",
             "--solana-recipient", RECIPIENT)
    key = paywatch(env, "keys", "create", "--store", "bench-books").splitlines()[0]
    conn = await connect(dsn)
    try:
        store_id = await conn.fetchval("SELECT id FROM stores WHERE slug = 'bench-books'")
        await seed_payments(conn, store_id, RECIPIENT, payments, await sol_quote())
        await conn.execute(SETTLE, T0, small, payments - small)
        await conn.execute(PAY)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--port", type=int, default=18095)
    args = parser.parse_args()
    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    async with admin_server() as admin:
        dsn = await database(admin)
        data = tempfile.mkdtemp(prefix="pw-bench-")
        env = {**os.environ, "PAYWATCH_DATABASE_URL": dsn, "PAYWATCH_DATA_DIR": data,
               "PAYWATCH_API_PORT": str(args.port), "PAYWATCH_LOG_LEVEL": "WARNING",
               "PAYWATCH_SOLANA_WATCH": "false"}
        started = time.perf_counter()
        key = await seed(dsn, env, args.payments, args.small)
        print(f"seeded {args.payments:,} confirmed payments with their transfers in "
              f"{time.perf_counter() - started:.1f} s")
        base = f"http://127.0.0.1:{args.port}"
        daemon = start_daemon(env, Path(data) / "paywatch.log")
        try:
            wait_ready(base)
            print(f"{'export':<28}{'rows':>9}{'MiB':>8}{'s':>7}{'rows/s':>9}"
                  f"{'VmHWM before':>14}{'after':>8}")
            small_end = T0 + timedelta(hours=1)
            for kind, fmt, end in (("payments", "csv", small_end), ("payments", "json",
                                                                      small_end),
                                   ("payments", "csv", T0 + timedelta(hours=2)),
                                   ("payments", "json", T0 + timedelta(hours=2)),
                                   ("transfers", "csv", T0 + timedelta(hours=2))):
                before = peak_rss_mib(daemon.pid)
                rows, size, seconds = export(base, key, kind, T0, end, fmt)
                after = peak_rss_mib(daemon.pid)
                print(f"{kind + ' ' + fmt:<28}{rows:>9,}{size / 2**20:>8.1f}{seconds:>7.1f}"
                      f"{rows / seconds:>9,.0f}{before:>12.1f} MiB{after:>6.1f}")
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
