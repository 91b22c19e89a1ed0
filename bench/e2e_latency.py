"""End-to-end latency: from a transfer reaching `confirmed` on simnet to the payment.confirmed
webhook arriving at a local receiver, p50/p95/p99, at several payment rates.

    .venv/bin/python bench/e2e_latency.py [--rates 10,100,500] [--seconds 4] [--dispatch 0.25]
                                          [--split] [--tick-only]

For each rate: payments are created through the API beforehand (and their payment.created
webhooks delivered), then paid on simnet at that rate for `--seconds`; the watcher and the
webhook dispatcher run as in `paywatch run` (woken by each new event, and a tick every
`--dispatch` seconds, the daemon's default 0.25 s; --tick-only: the tick alone, as before
issue 20), in this one process with simnet and the receiver. With --split, simnet
(`paywatch simnet`) and the payer (bench/e2e_payer.py, which times `confirmed` with
signatureSubscribe) run as processes of their own, so the daemon's side gets a core. Prints
the achieved pay rate when it falls short of the target (2 cores), and where the time went
(watcher, dispatcher, HTTP). Uses PAYWATCH_DATABASE_URL's server when set, else an embedded
PostgreSQL. Asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import build_app
from bench.common import admin_server, database
from bench.solana_watcher import create_payments, store_and_key
from db import webhooks
from db.pool import create_pool
from paywatch.chains import build_chains
from paywatch.core.settings import Settings
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from watcher.solana.service import SolanaWatcher, WatcherConfig
from watcher.webhooks import Dispatcher

ARRIVED = web.AppKey("arrived", dict[str, float])

# Where the time goes, per payment: when its payment.confirmed event was written (the watcher's
# recording transaction), and when the dispatcher began delivering it (delivered_at is taken
# just before the POST).
STAGES = """
SELECT ev.payment_id::text AS id, extract(epoch FROM ev.created_at) AS recorded,
       extract(epoch FROM d.delivered_at) AS posting
FROM events ev JOIN webhook_deliveries d ON d.event_id = ev.id
WHERE ev.type = 'payment.confirmed' AND d.status = 'delivered'
"""


async def receiver() -> tuple[web.AppRunner, str, dict[str, float]]:
    arrived: dict[str, float] = {}

    async def hook(request: web.Request) -> web.Response:
        event = await request.json()
        if event["type"] == "payment.confirmed":  # the payment is the event's data.object
            arrived.setdefault(event["data"]["object"]["id"], time.time())
        return web.Response(status=204)

    app = web.Application()
    app[ARRIVED] = arrived
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/hook", arrived


# The payments' payment.created webhooks, still being delivered when the paying starts.
BACKLOG = """
SELECT (SELECT count(*) FROM events WHERE dispatched_at IS NULL)
     + (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')
"""


async def drained(pool: Any) -> None:
    """Wait (up to a minute) until the payment.created webhooks are all delivered: what is
    measured is a confirmation's way to the receiver, not a queue of creations ahead of it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and await pool.fetchval(BACKLOG):  # noqa: ASYNC110
        await asyncio.sleep(0.1)


async def dispatch_forever(dispatcher: Dispatcher, every: float, follow: bool = True) -> None:
    """As `paywatch run` wires it (paywatch/jobs.py): woken by each new event, and a tick."""
    if follow:
        dispatcher.start_following()
    try:
        while True:
            await dispatcher.run_until_idle()
            await asyncio.sleep(every)
    finally:
        await dispatcher.aclose()


async def run_rate(admin: str, rate: int, args: argparse.Namespace) -> list[float]:
    dsn = await database(admin)
    pool = await create_pool(dsn, min_size=2, max_size=20)
    settings = Settings(database_url=dsn, api_rate_limit_per_minute=10**9, _env_file=None)
    count = rate * args.seconds
    hook_runner, hook_url, arrived = await receiver()
    async with SimnetServer(rpc_port=0, ws_port=0, slot_ms=400) as sim, \
            aiohttp.ClientSession() as session:
        wallet = Wallet(Keypair(), AsyncClient(sim.rpc_url, commitment="confirmed"))
        await wallet.airdrop(wallet.pubkey, 10_000 * 10**9)
        merchant = Keypair().pubkey()
        await wallet.airdrop(merchant, 10**9)
        key, store_id = await store_and_key(pool, str(merchant))
        async with pool.acquire() as conn:
            await webhooks.insert_endpoint(conn, store_id, hook_url, "whsec_bench", None, ["*"])
        client = TestClient(TestServer(build_app(settings, pool, chains=build_chains(settings))))
        await client.start_server()
        payments = await create_payments(client, key, count)
        confirmed_at: dict[str, float] = {}
        sim.ledger.listeners.append(
            lambda kind, rec: confirmed_at.setdefault(rec.signature, time.time())
            if kind == "confirmed" else None)
        watcher = SolanaWatcher(pool, session, WatcherConfig([sim.rpc_url], [sim.ws_url]))
        tasks = [asyncio.create_task(watcher.run()),
                 asyncio.create_task(dispatch_forever(
                     Dispatcher(pool, session, allow_private=True), args.dispatch,
                     not args.tick_only))]
        await asyncio.wait_for(watcher.stream.connected.wait(), 30)
        await asyncio.sleep(1)
        await drained(pool)
        signatures = await pay_at(wallet, payments, rate)
        deadline = time.monotonic() + 60
        while len(arrived) < len(payments) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()
    await hook_runner.cleanup()
    await pool.close()
    await drop(admin, dsn)
    return [arrived[p] - confirmed_at[s] for p, s in signatures.items()
            if p in arrived and s in confirmed_at]


async def run_rate_split(admin: str, rate: int, args: argparse.Namespace) -> list[float]:
    """As run_rate, with the chain and the payer in processes of their own."""
    dsn = await database(admin)
    pool = await create_pool(dsn, min_size=2, max_size=20)
    settings = Settings(database_url=dsn, api_rate_limit_per_minute=10**9, _env_file=None)
    hook_runner, hook_url, arrived = await receiver()
    work = Path(tempfile.mkdtemp(prefix="pw-e2e-"))
    with simnet(work) as (rpc_url, ws_url):
        async with aiohttp.ClientSession() as session:
            funder = Wallet(Keypair(), AsyncClient(rpc_url, commitment="confirmed"))
            await funder.airdrop(funder.pubkey, 10**9)
            merchant = Keypair().pubkey()
            await funder.airdrop(merchant, 10**9)
            key, store_id = await store_and_key(pool, str(merchant))
            async with pool.acquire() as conn:
                await webhooks.insert_endpoint(conn, store_id, hook_url, "whsec_bench", None,
                                               ["*"])
            app = build_app(settings, pool, chains=build_chains(settings))
            client = TestClient(TestServer(app))
            await client.start_server()
            payments = await create_payments(client, key, rate * args.seconds)
            (work / "in.json").write_text(json.dumps(
                [{"id": p["id"], "url": p["payment_request"]["url"]} for p in payments]))
            watcher = SolanaWatcher(pool, session, WatcherConfig([rpc_url], [ws_url]))
            tasks = [asyncio.create_task(watcher.run()),
                     asyncio.create_task(dispatch_forever(
                         Dispatcher(pool, session, allow_private=True), args.dispatch,
                         not args.tick_only))]
            await asyncio.wait_for(watcher.stream.connected.wait(), 30)
            await asyncio.sleep(1)
            await drained(pool)
            payer = await asyncio.create_subprocess_exec(
                sys.executable, str(Path(__file__).with_name("e2e_payer.py")), rpc_url, ws_url,
                str(rate), str(work / "in.json"), str(work / "out.json"))
            await payer.wait()
            paid = json.loads((work / "out.json").read_text())
            print(f"  target {rate}/s, achieved {paid.pop('_rate'):.0f} payments/s sent "
                  f"and accepted (payer in its own process)")
            deadline = time.monotonic() + 60
            while len(arrived) < len(payments) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.close()
            await print_stages(pool, {p: at for p, (_sig, at) in paid.items() if at},
                               arrived)
    await hook_runner.cleanup()
    await pool.close()
    await drop(admin, dsn)
    return [arrived[p] - at for p, (_sig, at) in paid.items() if p in arrived and at]


async def print_stages(pool: Any, confirmed: dict[str, float],
                       arrived: dict[str, float]) -> None:
    """p50/p99 of each leg: chain confirmed -> recorded (watcher), recorded -> POST started
    (dispatcher), POST started -> received (HTTP and the receiver)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(STAGES)
    legs: dict[str, list[float]] = {"watcher": [], "dispatch": [], "http": []}
    for r in rows:
        if r["id"] in confirmed and r["id"] in arrived:
            legs["watcher"].append(float(r["recorded"]) - confirmed[r["id"]])
            legs["dispatch"].append(float(r["posting"] - r["recorded"]))
            legs["http"].append(arrived[r["id"]] - float(r["posting"]))
    print("  legs (p50 / p99 ms): " + ", ".join(
        f"{name} {pct(v, 0.5):.0f} / {pct(v, 0.99):.0f}" for name, v in legs.items() if v))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def drop(admin: str, dsn: str) -> None:
    """The bench's database goes when its rate is measured (a name of ours, quoted)."""
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.contextmanager
def simnet(cwd: Path) -> Iterator[tuple[str, str]]:
    """`paywatch simnet` in its own process, 400 ms slots, on free ports."""
    from tests.conftest import free_port

    rpc_port, ws_port = free_port(), free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "paywatch"), "simnet",
                             "--rpc-port", str(rpc_port), "--ws-port", str(ws_port),
                             "--slot-ms", "400"], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_simnet(f"http://127.0.0.1:{rpc_port}")
        yield f"http://127.0.0.1:{rpc_port}", f"ws://127.0.0.1:{ws_port}"
    finally:
        proc.terminate()
        proc.wait(30)


def _wait_simnet(url: str) -> None:
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "getHealth"}).encode()
    for _ in range(300):
        request = urllib.request.Request(url, data=body,  # noqa: S310 (loopback)
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=1) as resp:  # noqa: S310
                if json.loads(resp.read()).get("result") == "ok":
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("simnet did not start")


async def pay_at(wallet: Wallet, payments: list[dict[str, Any]], rate: int) -> dict[str, str]:
    """Start one payment every 1/rate seconds; report the rate achieved."""
    signatures: dict[str, str] = {}
    started = time.monotonic()

    async def pay(p: dict[str, Any]) -> None:
        signatures[p["id"]] = str(await wallet.pay(p["payment_request"]["url"]))

    tasks = []
    for n, p in enumerate(payments):
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(pay(p)))
    await asyncio.gather(*tasks)
    achieved = len(payments) / (time.monotonic() - started)
    print(f"  target {rate}/s, achieved {achieved:.0f} payments/s sent and accepted")
    return signatures


def summary(rate: int, seconds: list[float]) -> str:
    if not seconds:
        return f"{rate:>4}/s: no webhook arrived"
    return (f"{rate:>4}/s: confirmed on simnet -> webhook at the receiver p50 "
            f"{statistics.median(seconds) * 1000:.0f} ms, p95 {pct(seconds, 0.95):.0f} ms, p99 "
            f"{pct(seconds, 0.99):.0f} ms (n={len(seconds)})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,100,500")
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--dispatch", type=float, default=0.25)
    parser.add_argument("--tick-only", action="store_true",
                        help="the dispatcher on its tick alone, not woken by new events")
    parser.add_argument("--split", action="store_true",
                        help="simnet and the payer in processes of their own")
    args = parser.parse_args()
    lines = []
    async with admin_server() as admin:
        for rate in (int(r) for r in args.rates.split(",")):
            print(f"rate {rate}/s for {args.seconds} s (webhook dispatch every {args.dispatch} s)")
            run = run_rate_split if args.split else run_rate
            lines.append(summary(rate, await run(admin, rate, args)))
            print(lines[-1])
    print("\n".join(["", *lines]))


if __name__ == "__main__":
    asyncio.run(main())
