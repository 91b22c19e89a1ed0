"""`paywatch run`: the composition root. It opens the database, migrates, and serves the API;
watchers and scheduled jobs join here as they are built. SIGINT/SIGTERM drain and exit 0."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from aiohttp import web

from api.app import build_app
from db.migrator import MigrationError, Migrator, load_migrations
from paywatch import __version__
from paywatch.database import open_database
from paywatch.metrics import BUILD_INFO
from paywatch.settings import Settings

log = logging.getLogger("paywatch.daemon")

SHUTDOWN_TIMEOUT_S = 10.0


class StartupError(Exception):
    """Refusal to start, with a message for the operator (exit status 1)."""


async def run_daemon(settings: Settings, *, migrate: bool = True,
                     stop: asyncio.Event | None = None) -> None:
    started = time.perf_counter()
    stop = stop or _stop_on_signals()
    BUILD_INFO.labels(__version__).set(1)
    migrations = load_migrations()
    async with open_database(settings) as db:
        async with db.pool.acquire() as conn:
            await _prepare_schema(Migrator(conn, migrations), migrate)
        runner = web.AppRunner(build_app(settings, db.pool, migrations),
                               shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.api_host, settings.api_port)
            await site.start()
            log.info("paywatch is running", extra={
                "api": f"http://{settings.api_host}:{_bound_port(runner, settings)}",
                "startup_ms": int((time.perf_counter() - started) * 1000),
            })
            await stop.wait()
            log.info("shutting down: draining requests")
        finally:
            await runner.cleanup()
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
