"""Matching throughput: transaction notifications parsed and matched per second against
1,000,000 open references, in process without the database; then confirmed payments per second
with the database writes included (transfer row, guarded payment update, events, order).

    .venv/bin/python bench/matching.py [--open 1000000] [--txs 2000] [--workers 8]

Real transactions: `--txs` payments are made through the API and paid on simnet by the wallet,
and each getTransaction answer is kept as JSON text. Step 1 parses each text and matches it
against a reference index holding those payments plus enough synthetic ones to reach `--open`.
Step 2 records every match through the watcher's own code path (one database transaction per
signature, as the watcher does), with `--workers` concurrent workers.
Uses PAYWATCH_DATABASE_URL's server when set, else an embedded PostgreSQL. Asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import build_app
from bench.common import admin_server, database
from bench.seed import count_by_status
from bench.solana_watcher import create_payments, store_and_key
from db.pool import create_pool
from paywatch.chains import build_chains
from paywatch.core.settings import Settings
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from watcher.solana.matcher import OpenPayment, match_transaction
from watcher.solana.service import SolanaWatcher, WatcherConfig


async def real_transactions(sim: SimnetServer, pool: Any, settings: Settings,
                            count: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(signature, getTransaction JSON text, the payment) for `count` paid payments."""
    wallet = Wallet(Keypair(), AsyncClient(sim.rpc_url, commitment="confirmed"))
    await wallet.airdrop(wallet.pubkey, 10_000 * 10**9)
    merchant = Keypair().pubkey()
    await wallet.airdrop(merchant, 10**9)
    key, _ = await store_and_key(pool, str(merchant))
    client = TestClient(TestServer(build_app(settings, pool, chains=build_chains(settings))))
    await client.start_server()
    payments = await create_payments(client, key, count)
    await client.close()
    signatures = []
    for start in range(0, count, 100):
        signatures += await asyncio.gather(*(wallet.pay(p["payment_request"]["url"])
                                             for p in payments[start:start + 100]))
        print(f"  paid {len(signatures)}/{count}", end="\r", flush=True)
    print()
    await asyncio.sleep(1.0)  # every one of them at `confirmed`
    out = []
    async with aiohttp.ClientSession() as session:
        for sig, payment in zip(signatures, payments, strict=True):
            async with session.post(sim.rpc_url, json={
                    "jsonrpc": "2.0", "id": 1, "method": "getTransaction", "params": [
                        str(sig), {"encoding": "json", "commitment": "confirmed",
                                   "maxSupportedTransactionVersion": 0}]}) as resp:
                body = await resp.json()
            out.append((str(sig), json.dumps(body["result"]), payment))
    return out


def index_of(txs: list[tuple[str, str, dict[str, Any]]], total: int) -> dict[str, OpenPayment]:
    index = {p["payment_request"]["reference"]: OpenPayment(
        p["id"], p["payment_request"]["reference"], p["payment_request"]["recipient"], "SOL",
        None, None) for _, _, p in txs}
    recipient = txs[0][2]["payment_request"]["recipient"]
    for n in range(total - len(index)):
        ref = str(Keypair().pubkey()) if n < 1000 else f"synthetic{n:032d}"
        index[ref] = OpenPayment(n, ref, recipient, "SOL", None, None)
    return index


def match_rate(txs: list[tuple[str, str, dict[str, Any]]], index: dict[str, OpenPayment],
               seconds: float = 5.0) -> tuple[float, int]:
    done = matched = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _, text, _ in txs:
            matched += len(match_transaction(json.loads(text), index.get))
        done += len(txs)
    return done / (time.perf_counter() - started), matched


async def record_rate(pool: Any, txs: list[tuple[str, str, dict[str, Any]]],
                      index: dict[str, OpenPayment], workers: int) -> float:
    async with aiohttp.ClientSession() as session:
        # Its stream never runs here: the URLs only satisfy the config (one of each is needed).
        config = WatcherConfig(["http://127.0.0.1:1"], ["ws://127.0.0.1:1"])
        watcher = SolanaWatcher(pool, session, config)
        queue: asyncio.Queue[tuple[str, str, dict[str, Any]]] = asyncio.Queue()
        for item in txs:
            queue.put_nowait(item)

        async def worker() -> None:
            while not queue.empty():
                sig, text, _ = queue.get_nowait()
                tx = json.loads(text)
                await watcher._record(sig, tx, match_transaction(tx, index.get))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        took = time.perf_counter() - started
    confirmed = await count_by_status(pool, "confirmed")
    print(f"  {confirmed}/{len(txs)} payments confirmed by the recording step")
    return len(txs) / took


async def run(admin: str, args: argparse.Namespace) -> None:
    dsn = await database(admin)
    pool = await create_pool(dsn, min_size=2, max_size=args.workers + 2)
    settings = Settings(database_url=dsn, api_rate_limit_per_minute=10**9, _env_file=None)
    async with SimnetServer(rpc_port=0, ws_port=0, slot_ms=200) as sim:
        txs = await real_transactions(sim, pool, settings, args.txs)
    tracemalloc.start()
    index = index_of(txs, args.open)
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(f"reference index: {len(index):,} open references, {size / 2**20:.0f} MiB")
    rate, matched = match_rate(txs, index)
    print(f"parse + match (no database): {rate:,.0f} transactions/s against "
          f"{len(index):,} open references ({matched:,} matches)")
    recorded = await record_rate(pool, txs, index, args.workers)
    print(f"record + settle (database writes included, {args.workers} workers): "
          f"{recorded:,.0f} confirmed payments/s; ratio match/record {rate / recorded:.0f}x")
    await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=1_000_000)
    parser.add_argument("--txs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    async with admin_server() as admin:
        await run(admin, args)


if __name__ == "__main__":
    asyncio.run(main())
