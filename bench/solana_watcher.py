"""Solana watcher: RPC load against the number of open payments, side by side with polling
each reference (what most Solana Pay integrations do), and confirmation latency.

    .venv/bin/python bench/solana_watcher.py [--sizes 10,1000,10000,100000] [--window 20]
                                             [--paid 20] [--poll-interval 1] [--poll-max 1000]
                                             [--unique-amounts]

For each size: a fresh database with that many open payments (`--paid` made through the API,
the rest inserted in bulk), simnet in process, the watcher running; during `--window` seconds
the `--paid` payments are paid at a steady pace. Prints RPC requests per minute (by method),
subscriptions, and the time from each transfer reaching `confirmed` on simnet to its payment's
confirmed row (p50, p99). Then the per-reference strategy, a faithful copy of @solana/pay's
findReference loop (one getSignaturesForAddress per open reference per poll), is run against
the same simnet for sizes up to --poll-max and its requests per minute counted; above that its
cost is computed as references x polls per minute (the measured cost is exactly linear), and
marked so. With --unique-amounts the store opts in to Solana unique amounts: every open payment
gets an amount of its own (the seeded ones too) and every other paid payment is paid by a plain
transfer without the reference (an exchange withdrawal), matched by its amount: RPC requests
per minute must stay as flat as with references only. Uses PAYWATCH_DATABASE_URL's server when
set, else embedded PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer

# Run as a script (`.venv/bin/python bench/X.py`): the project root is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import build_app
from bench.common import admin_server, database
from bench.seed import seed_payments, sol_quote
from db import api_keys, stores
from db.payments import get_payment_public
from db.pool import create_pool
from paywatch.chains import build_chains
from paywatch.core.apikeys import display_prefix, generate_key, hash_key
from paywatch.core.settings import Settings
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from watcher.solana.service import SolanaWatcher, WatcherConfig


def rpc_counts() -> dict[str, float]:
    counts: dict[str, float] = {}
    for metric in REGISTRY.collect():
        if metric.name == "paywatch_rpc_requests":
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    method = sample.labels["method"]
                    counts[method] = counts.get(method, 0) + sample.value
    return counts


async def store_and_key(pool: Any, recipient: str) -> tuple[str, Any]:
    key = generate_key()
    async with pool.acquire() as conn:
        store = await stores.insert_store(conn, f"bench-{uuid.uuid4().hex[:6]}", "Bench",
                                          recipient)
        await stores.upsert_store_asset(conn, store["id"], "solana", "SOL", None, 9)
        await api_keys.insert_key(conn, store["id"], "bench", display_prefix(key),
                                  hash_key(key), ["payments:read", "payments:write"])
    return key, store["id"]


# The seeded payments as a store with unique amounts would have them: each its own amount.
UNIQUE_SEEDED = """
UPDATE payments p SET unique_amount = true, amount_due = p.amount_due + 10 * n.rank
FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM payments
      WHERE store_id = $1 AND NOT unique_amount) n
WHERE p.id = n.id
"""


async def create_payments(client: TestClient, key: str, count: int) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []

    async def one() -> None:
        resp = await client.post("/v1/payments", headers={"Authorization": f"Bearer {key}"},
                                 json={"amount": "1", "currency": "USD", "asset": "SOL"})
        made.append(await resp.json())

    for start in range(0, count, 200):
        await asyncio.gather(*(one() for _ in range(min(200, count - start))))
        print(f"  created {len(made)}/{count} open payments", end="\r", flush=True)
    print()
    return made


async def poll_references(rpc_url: str, references: list[str], window: float,
                          interval: float) -> float:
    """@solana/pay's findReference, polled for every open reference every `interval` seconds
    (getSignaturesForAddress(reference, {limit: 1000}, 'confirmed')); returns requests/min."""
    sent = 0

    async def find(session: aiohttp.ClientSession, reference: str) -> None:
        nonlocal sent
        sent += 1
        async with session.post(rpc_url, json={
                "jsonrpc": "2.0", "id": 1, "method": "getSignaturesForAddress",
                "params": [reference, {"limit": 1000, "commitment": "confirmed"}]}) as resp:
            await resp.read()

    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        while time.monotonic() - started < window:
            tick = time.monotonic()
            await asyncio.gather(*(find(session, r) for r in references))
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - tick)))
    return sent * 60 / (time.monotonic() - started)


async def run_size(admin_dsn: str, size: int, args: argparse.Namespace) -> tuple[list[float],
                                                                                 float, float]:
    window, paid = args.window, min(args.paid, size)
    dsn = await database(admin_dsn)
    pool = await create_pool(dsn, max_size=20)
    settings = Settings(database_url=dsn, api_rate_limit_per_minute=10**9, _env_file=None)
    async with SimnetServer(rpc_port=0, ws_port=0, slot_ms=400) as sim, \
            aiohttp.ClientSession() as session:
        wallet = Wallet(Keypair(), AsyncClient(sim.rpc_url, commitment="confirmed"))
        await wallet.airdrop(wallet.pubkey, 1000 * 10**9)
        merchant = Keypair().pubkey()
        await wallet.airdrop(merchant, 10**9)
        key, store_id = await store_and_key(pool, str(merchant))
        if args.unique_amounts:
            await pool.execute("UPDATE stores SET solana_unique_amount = true WHERE id = $1",
                               store_id)
        client = TestClient(TestServer(build_app(settings, pool, chains=build_chains(settings))))
        await client.start_server()
        payments = await create_payments(client, key, paid)
        async with pool.acquire() as conn:
            await seed_payments(conn, store_id, str(merchant), size - paid, await sol_quote(),
                                progress=lambda n: print(f"  inserted {n}/{size - paid} more "
                                                         "open payments", end="\r", flush=True))
            if args.unique_amounts:
                await conn.execute(UNIQUE_SEEDED, store_id)
        print()
        confirmed_at: dict[str, float] = {}
        sim.ledger.listeners.append(
            lambda kind, rec: confirmed_at.setdefault(rec.signature, time.time())
            if kind == "confirmed" else None)
        watcher = SolanaWatcher(pool, session, WatcherConfig([sim.rpc_url], [sim.ws_url]))
        task = asyncio.create_task(watcher.run())
        await asyncio.wait_for(watcher.stream.connected.wait(), 30)
        await asyncio.sleep(2)  # let start-up backfill settle before counting
        before, started = rpc_counts(), time.monotonic()
        signatures = {}
        for n, p in enumerate(payments[:paid]):
            if args.unique_amounts and n % 2:  # no reference: matched by its unique amount
                to = Pubkey.from_string(p["payment_request"]["recipient"])
                signatures[p["id"]] = await wallet.send([transfer(TransferParams(
                    from_pubkey=wallet.pubkey, to_pubkey=to, lamports=int(p["amount_due"])))])
            else:
                signatures[p["id"]] = await wallet.pay(p["payment_request"]["url"])
            await asyncio.sleep(window / paid / 2)
        await asyncio.sleep(max(0.0, window - (time.monotonic() - started)))
        elapsed = time.monotonic() - started
        after = rpc_counts()
        per_minute = {m: (after.get(m, 0) - before.get(m, 0)) * 60 / elapsed for m in after}
        total = sum(per_minute.values())
        shown = ", ".join(f"{m} {v:.0f}" for m, v in sorted(per_minute.items()) if v)
        print(f"{size:>7} open: {total:7.0f} RPC requests/min ({shown}); "
              f"{len(watcher.stream.subscribed)} log subscriptions + 1 slot subscription")
        polled = await _per_reference(sim.rpc_url, payments, size, args)
        latencies = []
        async with pool.acquire() as conn:
            for payment_id, sig in signatures.items():
                row = await get_payment_public(conn, uuid.UUID(payment_id))
                if row["confirmed_at"] is not None and sig in confirmed_at:
                    latencies.append(row["confirmed_at"].timestamp() - confirmed_at[sig])
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
    await pool.close()
    return latencies, total, polled


async def _per_reference(rpc_url: str, payments: list[dict[str, Any]], size: int,
                         args: argparse.Namespace) -> float:
    per_minute = 60 / args.poll_interval
    if size > args.poll_max:
        print(f"{size:>7} open, per-reference polling: {size * per_minute:9.0f} requests/min "
              f"(computed: {size} references x {per_minute:.0f} polls/min)")
        return size * per_minute
    references = [p["payment_request"]["reference"] for p in payments]
    references += [str(Keypair().pubkey()) for _ in range(size - len(references))]
    rate = await poll_references(rpc_url, references, min(args.window, 10.0),
                                 args.poll_interval)
    print(f"{size:>7} open, per-reference polling: {rate:9.0f} requests/min (measured, "
          f"{args.poll_interval:g} s interval; ideal {size * per_minute:.0f})")
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,10000,100000")
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--paid", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--poll-max", type=int, default=1000)
    parser.add_argument("--unique-amounts", action="store_true",
                        help="the store opts in to unique amounts; half the payers send no "
                        "reference")
    args = parser.parse_args()
    print(f"window {args.window:.0f} s per size, {args.paid} payments paid in each, "
          f"slot 400 ms, commitment confirmed")
    latencies: list[float] = []
    rows = []
    async with admin_server() as admin:
        for size in (int(s) for s in args.sizes.split(",")):
            seen, ours, polled = await run_size(admin, size, args)
            latencies += seen
            rows.append((size, ours, polled))
    print("\n   open   ours req/min   per-reference req/min   per-reference / ours")
    for size, ours, polled in rows:
        print(f"{size:>7}   {ours:12.0f}   {polled:21.0f}   {polled / ours:20.1f}x")
    if latencies:
        ordered = sorted(latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"transfer confirmed on simnet -> payment confirmed row: "
              f"p50 {statistics.median(ordered) * 1000:.0f} ms, "
              f"p99 {p99 * 1000:.0f} ms (n={len(ordered)})")


if __name__ == "__main__":
    asyncio.run(main())
