"""EVM watcher on anvil: blocks processed per second during backfill, and the time from a block
reaching the required depth to the payment's confirmed row.

    .venv/bin/python bench/evm_watcher.py [--blocks 3000] [--busy 300] [--payments 30] [--trace]

Backfill: the watcher is stopped while anvil mines `--blocks` blocks, `--busy` of them holding
8 transactions each (ETH and ERC-20 transfers, one ETH payment through a contract's internal
call, a few paying watched payments); then it starts and catches up from its tip
(eth_getBlockByNumber with transactions per block, eth_getLogs per chunk, and with `--trace`
the chain's trace_internal: a debug_traceBlockByHash per block with transactions); the RPC
calls it made are counted by method. Run it with and without `--trace` to compare.
Latency: `--payments` payments are paid one by one; for each, the block that makes the transfer
deep enough is mined and the clock runs until the payment's confirmed row appears.
Uses PAYWATCH_DATABASE_URL's server when set, else an embedded PostgreSQL. Asserts nothing."""

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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import REGISTRY

from api.app import build_app
from bench.common import admin_server, database
from db.pool import create_pool
from paywatch.chains import build_chains
from paywatch.core.evm import EvmChain, EvmToken
from paywatch.core.settings import Settings
from tests.evm.anvil import CHAIN_ID, Anvil, anvil_process
from tests.evm.conftest import make_evm_store
from watcher.evm.service import EvmWatcher

DEPTH = 3
SINK = "0x000000000000000000000000000000000000dEaD"


async def busy_blocks(anvil: Anvil, usdt: str, forwarder: str, blocks: int, busy: int,
                      pay: list[dict[str, Any]]) -> None:
    """Mine `blocks` blocks; every (blocks // busy)-th holds 8 transactions."""
    every = max(1, blocks // max(busy, 1))
    await anvil.automine(False)
    started = time.perf_counter()
    for n in range(blocks):
        if n % every == 0 and busy:
            for i in range(8):
                if pay and i == 0:
                    request = pay.pop()["payment_request"]
                    await anvil.pay_token(usdt, request["recipient"], int(request["amount"]))
                elif i == 1:  # ETH paid by a contract: only a trace shows it
                    await anvil.forward(forwarder, SINK, 10**12 + n)
                elif i % 2:
                    await anvil.pay_eth(SINK, 10**12 + n)
                else:
                    await anvil.pay_token(usdt, SINK, 1000 + n)
        await anvil.mine(1)
        if (n + 1) % 500 == 0:
            print(f"  mined {n + 1}/{blocks} blocks ({time.perf_counter() - started:.1f} s)",
                  flush=True)
    await anvil.automine(True)


async def wait_caught_up(pool: Any, anvil: Anvil) -> None:
    head = await anvil.head()
    # The database is where the watcher's progress is: poll it.
    while (await pool.fetchval(  # noqa: ASYNC110
            "SELECT max(number) FROM evm_blocks WHERE chain = 'anvil'") or 0) < head:
        await asyncio.sleep(0.02)


def rpc_calls() -> dict[str, float]:
    """JSON-RPC requests made so far in this process, by method."""
    calls: dict[str, float] = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "paywatch_rpc_requests_total":
                method = sample.labels["method"]
                calls[method] = calls.get(method, 0) + sample.value
    return calls


async def latency(api: TestClient, headers: dict[str, str], pool: Any, anvil: Anvil,
                  count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        resp = await api.post("/v1/payments", headers=headers, json={
            "amount": "5", "currency": "USD", "asset": "ETH", "chain": "anvil"})
        payment = await resp.json()
        request = payment["payment_request"]
        await anvil.receipt(await anvil.pay_eth(request["recipient"], int(request["amount"])))
        await anvil.mine(DEPTH - 2)  # depth DEPTH - 1: one block short
        await asyncio.sleep(0.3)     # let the watcher see it as detected first
        await anvil.mine(1)
        deep_at = time.time()
        while (row := await pool.fetchrow(  # noqa: ASYNC110
                "SELECT status, confirmed_at FROM payments WHERE id = $1",
                uuid.UUID(payment["id"])))["status"] != "confirmed":
            await asyncio.sleep(0.005)
        seconds.append(row["confirmed_at"].timestamp() - deep_at)
    return seconds


async def run(admin: str, args: argparse.Namespace) -> None:
    dsn = await database(admin)
    pool = await create_pool(dsn, min_size=2, max_size=10)
    with anvil_process() as (url, ws_url):
        async with aiohttp.ClientSession() as session:
            anvil = await Anvil(url, ws_url, session).start()
            usdt = await anvil.deploy_token("Tether USD", "USDT", 6, 10**18)
            forwarder = await anvil.deploy_forwarder()
            chain = EvmChain(name="anvil", chain_id=CHAIN_ID, rpc_urls=[url], ws_urls=[ws_url],
                             confirmations=DEPTH, poll_seconds=1.0,
                             backfill_chunk=args.chunk, trace_internal=args.trace,
                             tokens=[EvmToken(symbol="USDT", contract=usdt, decimals=6)])
            settings = Settings(database_url=dsn, evm_chains=[chain], _env_file=None,
                                api_rate_limit_per_minute=10**9,
                                static_prices={"ETH": "2500", "USDT": "1"})
            api = TestClient(TestServer(build_app(settings, pool, chains=build_chains(settings))))
            await api.start_server()
            headers, _ = await make_evm_store(pool, chain, "bench")
            watcher = EvmWatcher(pool, session, chain)
            task = asyncio.create_task(watcher.run())
            await wait_caught_up(pool, anvil)
            task.cancel()
            pay = []
            for _ in range(args.busy // 10):
                resp = await api.post("/v1/payments", headers=headers, json={
                    "amount": "3", "currency": "USD", "asset": "USDT", "chain": "anvil"})
                pay.append(await resp.json())
            print(f"mining {args.blocks} blocks while the watcher is down "
                  f"({args.busy} with 8 transactions, {len(pay)} paying watched payments)")
            await busy_blocks(anvil, usdt, forwarder, args.blocks, args.busy, pay)
            watcher = EvmWatcher(pool, session, chain)
            before = rpc_calls()
            started = time.perf_counter()
            task = asyncio.create_task(watcher.run())
            await wait_caught_up(pool, anvil)
            took = time.perf_counter() - started
            print(f"backfill: {args.blocks} blocks in {took:.2f} s = "
                  f"{args.blocks / took:.0f} blocks/s (chunk {args.chunk}, "
                  f"tracing {'on' if args.trace else 'off'})")
            calls = {m: n - before.get(m, 0) for m, n in rpc_calls().items()
                     if n > before.get(m, 0)}
            print("  RPC calls during backfill: " + ", ".join(
                f"{m} {n:.0f} ({n / args.blocks:.3f}/block)" for m, n in sorted(calls.items())))
            found = await pool.fetchval("SELECT count(*) FROM transfers WHERE chain = 'anvil'")
            print(f"  transfers recorded during backfill: {found}")
            seconds = sorted(await latency(api, headers, pool, anvil, args.payments))
            p95 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))]
            print(f"block reaches depth {DEPTH} -> payment confirmed row: "
                  f"p50 {statistics.median(seconds) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
                  f"max {seconds[-1] * 1000:.0f} ms (n={len(seconds)}; WebSocket newHeads, "
                  f"poll every {chain.poll_seconds} s as fallback)")
            task.cancel()
            await api.close()
    await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=3000)
    parser.add_argument("--busy", type=int, default=300)
    parser.add_argument("--payments", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--trace", action="store_true",
                        help="trace every block with transactions (the chain's trace_internal)")
    args = parser.parse_args()
    async with admin_server() as admin:
        await run(admin, args)


if __name__ == "__main__":
    asyncio.run(main())
