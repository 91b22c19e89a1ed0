"""Cross-store webhook latency while another store's endpoint hangs: from an event's commit to
its arrival at a healthy receiver, p50/p95/max.

    .venv/bin/python bench/webhook_isolation.py [--backlog 40] [--seconds 30] [--every 0.5]
                                                [--dispatch 0.25]

Store A's receiver accepts connections and never answers; `--backlog` events for A are queued
before the start. Store B's receiver answers 204 at once; one event for B is written every
`--every` seconds for `--seconds`. The dispatcher runs as in `paywatch run`: the daemon's job
scheduler every `--dispatch` seconds, the default 10 s delivery timeout, so A's deliveries
time out and are retried throughout. Uses PAYWATCH_DATABASE_URL's server when set, else an
embedded PostgreSQL. Asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import admin_server, database
from bench.solana_watcher import store_and_key
from db import events, webhooks
from db.pool import create_pool
from paywatch.jobs import JobScheduler, measured
from watcher.webhooks import Dispatcher

RECIPIENT = "11111111111111111111111111111111"


async def receiver(handler: Callable[[web.Request], Awaitable[web.Response]],
                   ) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def run(admin: str, args: argparse.Namespace) -> tuple[list[float], int, int]:
    pool = await create_pool(await database(admin), min_size=2, max_size=10)
    release = asyncio.Event()
    arrived: dict[str, float] = {}
    hung = 0

    async def hang(_request: web.Request) -> web.Response:
        nonlocal hung
        hung += 1
        await release.wait()
        return web.Response(status=204)

    async def answer(request: web.Request) -> web.Response:
        arrived[request.headers["Paywatch-Event-Id"]] = time.monotonic()
        return web.Response(status=204)

    dead_runner, dead_url = await receiver(hang)
    good_runner, good_url = await receiver(answer)
    _key, store_a = await store_and_key(pool, RECIPIENT)
    _key, store_b = await store_and_key(pool, RECIPIENT)
    async with pool.acquire() as conn:
        await webhooks.insert_endpoint(conn, store_a, dead_url, "whsec_a", None, ["*"])
        await webhooks.insert_endpoint(conn, store_b, good_url, "whsec_b", None, ["*"])
        for n in range(args.backlog):
            await events.emit(conn, store_id=store_a, type_="payment.confirmed", data={"n": n})
    dispatcher = Dispatcher(pool, allow_private=True)
    scheduler = JobScheduler()
    scheduler.on_drained.append(dispatcher.aclose)
    scheduler.add_job(measured("deliver_webhooks", dispatcher.run_until_idle,
                               scheduler.jobs_running), "interval", seconds=args.dispatch,
                      id="deliver_webhooks", max_instances=1, coalesce=True,
                      misfire_grace_time=None)
    scheduler.start()
    written: dict[str, float] = {}
    stop = time.monotonic() + args.seconds
    while time.monotonic() < stop:
        async with pool.acquire() as conn:
            event = await events.emit(conn, store_id=store_b, type_="payment.confirmed",
                                      data={"store": "b"})
        written[str(event["id"])] = time.monotonic()
        await asyncio.sleep(args.every)
    deadline = time.monotonic() + 30
    while len(arrived) < len(written) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    release.set()
    await scheduler.drain(10.0)
    await dead_runner.cleanup()
    await good_runner.cleanup()
    await pool.close()
    late = len(written) - len(arrived)  # not there 30 s after the last was written
    return [arrived[e] - t for e, t in written.items() if e in arrived], hung, late


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=0.5)
    parser.add_argument("--dispatch", type=float, default=0.25)
    args = parser.parse_args()
    async with admin_server() as admin:
        latencies, hung, late = await run(admin, args)
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    print(f"store A: {args.backlog} events queued, receiver hanging; "
          f"{hung} requests to it held open over the run")
    print(f"store B: {len(latencies)} payment.confirmed delivered while A hung; event commit -> "
          f"receipt p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms "
          f"(dispatch tick {args.dispatch * 1000:.0f} ms); {late} not delivered within 30 s")


if __name__ == "__main__":
    asyncio.run(main())
