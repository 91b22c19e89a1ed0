"""`paywatch run`: the composition root. It opens the database, migrates, serves the API and
runs the scheduled jobs and, in the process that holds each chain's lock, the chain watchers.
Roles: `all` (everything), `api` (API and jobs), `watcher` (watchers and jobs; its port still
answers health, metrics and the API). SIGINT/SIGTERM drain and exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable

import aiohttp
import asyncpg
from aiohttp import web

from api.app import build_app
from db.migrator import MigrationError, Migrator, load_migrations
from paywatch import __version__
from paywatch.chains import build_chains
from paywatch.core.chains import ChainAdapter, ChainRegistry
from paywatch.core.metrics import BUILD_INFO
from paywatch.core.pricing import build_quote_service
from paywatch.core.settings import Settings
from paywatch.database import open_database
from paywatch.jobs import build_scheduler
from watcher.leader import lead

log = logging.getLogger("paywatch.daemon")

SHUTDOWN_TIMEOUT_S = 10.0
RESTART_DELAY_S = 5.0
JOB_DRAIN_S = 10.0  # a running job may finish its batch before the pool closes


class StartupError(Exception):
    """Refusal to start, with a message for the operator (exit status 1)."""


async def run_daemon(settings: Settings, *, migrate: bool = True, role: str = "all",
                     stop: asyncio.Event | None = None) -> None:
    started = time.perf_counter()
    stop = stop or _stop_on_signals()
    BUILD_INFO.labels(__version__).set(1)
    migrations = load_migrations()
    chains = build_chains(settings)
    # Every part is closed by the stack as soon as it is open, so a start that fails half way
    # closes what it opened. The stack unwinds in reverse: stop the watchers, let running jobs
    # finish their batch, stop accepting connections and finish requests, close the shared
    # HTTP session, close the pool (README "Shutdown").
    async with contextlib.AsyncExitStack() as stack:
        db = await stack.enter_async_context(open_database(settings))
        async with db.pool.acquire() as conn:
            await _prepare_schema(Migrator(conn, migrations), migrate)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        quotes = build_quote_service(settings, session)  # one cache for the API and the job
        runner = web.AppRunner(build_app(settings, db.pool, migrations, quote_service=quotes,
                                         chains=chains, session=session),
                               shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None)
        stack.push_async_callback(runner.cleanup)
        await runner.setup()
        scheduler = build_scheduler(settings, db.pool, quotes)
        scheduler.start()
        stack.push_async_callback(scheduler.drain, JOB_DRAIN_S)  # pausing needs it started
        watchers = (_start_watchers(chains, db.dsn, db.pool, settings.public_url)
                    if role != "api" else [])
        stack.push_async_callback(_stop_watchers, watchers)
        await web.TCPSite(runner, settings.api_host, settings.api_port).start()
        log.info("paywatch is running", extra={
            "role": role,
            "api": f"http://{settings.api_host}:{_bound_port(runner, settings)}",
            "startup_ms": int((time.perf_counter() - started) * 1000),
        })
        await stop.wait()
        log.info("shutting down: draining requests")
    log.info("stopped cleanly")


async def _prepare_schema(migrator: Migrator, migrate: bool) -> None:
    try:
        if migrate:
            await migrator.up()
            return
        pending = await migrator.pending()
    except MigrationError as exc:
        raise StartupError(str(exc)) from exc
    if pending:
        log.warning("migrations pending and --no-migrate given; /readyz will say 503",
                    extra={"pending": [m.filename for m in pending]})


def _start_watchers(chains: ChainRegistry, dsn: str, pool: asyncpg.Pool,
                    public_url: str | None) -> list[asyncio.Task[None]]:
    """One supervised watcher per watched chain, each active only while this process leads
    its chain."""
    return [asyncio.create_task(supervise(chain.name, _runner(dsn, pool, chain, public_url)),
                                name=f"watcher-{chain.name}")
            for chain in chains if chain.watch]


def _runner(dsn: str, pool: asyncpg.Pool, chain: ChainAdapter,
            public_url: str | None) -> Callable[[aiohttp.ClientSession], Awaitable[None]]:
    async def run(session: aiohttp.ClientSession) -> None:
        # A fresh watcher each time this process gains the lead: no state from a past term.
        await lead(dsn, chain.name, lambda: chain.watcher(pool, session, public_url)())

    return run


async def supervise(name: str, run: Callable[[aiohttp.ClientSession], Awaitable[None]]) -> None:
    """Keep a watcher running: an unexpected error is logged and the watcher restarted (its
    state is in the database, so a restart resumes from the cursors)."""
    while True:
        try:
            async with aiohttp.ClientSession() as session:
                await run(session)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("watcher stopped unexpectedly; restarting", extra={"chain": name})
        await asyncio.sleep(RESTART_DELAY_S)


async def _stop_watchers(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _bound_port(runner: web.AppRunner, settings: Settings) -> int:
    for addr in runner.addresses:
        if isinstance(addr, tuple):
            return int(addr[1])
    return settings.api_port


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
