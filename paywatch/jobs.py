"""Scheduled jobs inside `paywatch run` (APScheduler 3.x, on the daemon's event loop).

Every job is safe with several processes running: sweeps and webhook claims take rows with
FOR UPDATE SKIP LOCKED, retention deletes in batches. A job never overlaps itself in one
process (max_instances=1), and a missed run is coalesced rather than replayed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from db import idempotency, monitoring, stores
from db import transfers as ledger
from db.pool import DATABASE_ERRORS
from paywatch.core.metrics import (
    JOB_DURATION,
    JOB_RUNS,
    PAYMENTS_DETECTED_OLDEST,
    WEBHOOK_BACKLOG,
    WEBHOOK_FAILING_ENDPOINTS,
)
from paywatch.core.pricing import MarketPrice, PriceUnavailable, QuoteService
from paywatch.core.settings import Settings
from paywatch.services.sweeps import (
    expire_payments,
    expire_refunds,
    invalidate_payments,
    purge_events,
    purge_sessions,
)
from paywatch.services.transfers import refresh_inbox_gauge
from watcher.webhooks import Dispatcher

log = logging.getLogger("paywatch.jobs")

# The open-inbox gauge is one small count over the inbox's partial index: fresh enough for an
# alert on money waiting for the merchant.
INBOX_GAUGE_SECONDS = 30.0

# The books: confirmed transfers get their market value this often, from the price cache that
# refresh_prices keeps warm. A transfer still unvalued this long after its confirmation (no
# fresh price all that time, or confirmed before the job existed) keeps no market value: a
# price taken later is not the price when it was confirmed.
VALUATION_SECONDS = 30.0
VALUATION_WINDOW = timedelta(hours=1)
VALUATION_BATCH = 500
VALUATION_MAX_BATCHES = 20  # a run values at most 10,000 transfers; the next run goes on


class JobScheduler(AsyncIOScheduler):
    """APScheduler that remembers its running jobs, so shutdown can let them finish before the
    daemon closes the pool under them (a job cut off there would fail with a traceback)."""

    def __init__(self) -> None:
        super().__init__(timezone="UTC")
        self.jobs_running: set[asyncio.Task[Any]] = set()
        # Run after the jobs finished (e.g. closing the webhook dispatcher's own session).
        self.on_drained: list[Callable[[], Awaitable[None]]] = []
        # Run once the scheduler started, on its loop (the webhook dispatcher's listener).
        self.on_started: list[Callable[[], None]] = []
        # A tick that finds the job still running is skipped (max_instances=1): expected under
        # load, so a metric rather than APScheduler's warning (silenced in paywatch.logs).
        self.add_listener(_count_skipped, EVENT_JOB_MAX_INSTANCES)

    def start(self, paused: bool = False) -> None:
        super().start(paused)
        for begin in self.on_started:
            begin()

    async def drain(self, timeout_s: float) -> None:
        # Pause first: shutting down cancels the jobs still running, which is what we avoid.
        self.pause()
        if self.jobs_running:
            await asyncio.wait(set(self.jobs_running), timeout=timeout_s)
        self.shutdown(wait=False)
        for close in self.on_drained:
            await close()


def _count_skipped(event: JobSubmissionEvent) -> None:
    JOB_RUNS.labels(event.job_id, "skipped").inc()


def measured(name: str, job: Callable[[], Awaitable[Any]],
             running: set[asyncio.Task[Any]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        started = time.perf_counter()
        task = asyncio.current_task()
        if task is not None:
            running.add(task)
        try:
            await job()
        except DATABASE_ERRORS as exc:
            # The database restarting or unreachable: expected in operations, retried next run.
            JOB_RUNS.labels(name, "error").inc()
            log.warning("job failed; will run again", extra={"job": name, "error": str(exc)})
        except Exception:
            JOB_RUNS.labels(name, "error").inc()
            log.exception("job failed", extra={"job": name})
        else:
            JOB_RUNS.labels(name, "ok").inc()
        finally:
            JOB_DURATION.labels(name).observe(time.perf_counter() - started)
            running.discard(task)

    run.__name__ = name
    return run


async def purge_idempotency_keys(pool: asyncpg.Pool) -> int:
    total = 0
    while True:
        async with pool.acquire() as conn:
            done = await idempotency.delete_expired(conn)
        total += done
        if done == 0:
            return total


async def refresh_health_gauges(pool: asyncpg.Pool) -> None:
    """The database-backed health gauges (webhook backlog, failing endpoints, the oldest
    detected payment) that deploy/prometheus/alerts.yml alerts on."""
    async with pool.acquire() as conn:
        row = await monitoring.health(conn)
    WEBHOOK_BACKLOG.set(row["webhook_backlog"])
    WEBHOOK_FAILING_ENDPOINTS.set(row["failing_endpoints"])
    PAYMENTS_DETECTED_OLDEST.set(row["oldest_detected_s"])


async def refresh_prices(pool: asyncpg.Pool, quotes: QuoteService) -> int:
    """Keep the price cache warm for every pair a store can quote, so a checkout never waits
    on a provider. A pair no source can price is skipped (the API says so when asked)."""
    async with pool.acquire() as conn:
        pairs = await stores.priced_pairs(conn)
    fresh = 0
    for pair in pairs:
        try:
            await quotes.prices.price(pair["asset"], pair["currency"].strip())
            fresh += 1
        except PriceUnavailable as exc:
            log.info("no fresh price", extra={"asset": pair["asset"], "error": str(exc)})
    return fresh


async def value_transfers(pool: asyncpg.Pool, quotes: QuoteService, *,
                          batch: int = VALUATION_BATCH,
                          max_batches: int = VALUATION_MAX_BATCHES,
                          window: timedelta = VALUATION_WINDOW) -> int:
    """Give confirmed transfers (in and out) their market value: the price of (asset, currency)
    now, which is when they were confirmed give or take a run. A pair without a fresh price is
    left for the next run. Idempotent: each batch is one guarded UPDATE (db/transfers.py)."""
    after, valued = 0, 0
    for _ in range(max_batches):
        async with pool.acquire() as conn:
            rows = await ledger.unvalued(conn, after, window, batch)
        if not rows:
            break
        after = rows[-1]["id"]
        values = await _market_values(rows, quotes)
        async with pool.acquire() as conn:
            valued += await ledger.record_market_values(conn, values)
        if len(rows) < batch:
            break
    return valued


async def _market_values(rows: list[asyncpg.Record],
                         quotes: QuoteService) -> list[ledger.MarketValue]:
    prices: dict[tuple[str, str], MarketPrice | None] = {}
    values = []
    for row in rows:
        if row["currency"] is None or row["decimals"] is None:
            continue  # no store to take a currency or decimals from: nothing to value it in
        pair = (row["asset"], row["currency"].strip())
        if pair not in prices:
            prices[pair] = await _price(quotes, *pair)
        market = prices[pair]
        if market is not None:
            values.append(ledger.MarketValue(row["id"], pair[1], market.price, market.source,
                                             market.at, row["decimals"]))
    return values


async def _price(quotes: QuoteService, asset: str, currency: str) -> MarketPrice | None:
    try:
        return await quotes.prices.price(asset, currency)
    except PriceUnavailable as exc:
        log.info("no fresh price to value transfers; next run",
                 extra={"asset": asset, "currency": currency, "error": str(exc)})
        return None


def build_scheduler(settings: Settings, pool: asyncpg.Pool,
                    quotes: QuoteService) -> JobScheduler:
    scheduler = JobScheduler()
    # Not the shared session: deliveries go through one that pins the addresses it checked.
    dispatcher = Dispatcher(pool, allow_private=settings.webhook_allow_private,
                            lease=timedelta(seconds=settings.webhook_lease_seconds))
    # Woken by every new event (db/events.py notifies); the deliver_webhooks tick stays as the
    # safety net for retries and lost notifications.
    scheduler.on_started.append(dispatcher.start_following)
    scheduler.on_drained.append(dispatcher.aclose)
    jobs: list[tuple[str, Callable[[], Awaitable[Any]], float]] = [
        ("refresh_prices", lambda: refresh_prices(pool, quotes),
         max(1.0, settings.price_cache_ttl_seconds / 2)),
        ("expire_payments", lambda: expire_payments(pool, public_url=settings.public_url),
         settings.expiry_sweep_seconds),
        ("expire_refunds", lambda: expire_refunds(pool, public_url=settings.public_url),
         settings.expiry_sweep_seconds),
        ("invalidate_payments",
         lambda: invalidate_payments(pool, public_url=settings.public_url), 30.0),
        ("deliver_webhooks", dispatcher.run_until_idle, settings.webhook_dispatch_seconds),
        ("purge_idempotency_keys", lambda: purge_idempotency_keys(pool), 3600.0),
        ("purge_events", lambda: purge_events(pool, settings.event_retention_days), 3600.0),
        ("purge_sessions", lambda: purge_sessions(pool), 3600.0),
        ("refresh_inbox_gauge", lambda: refresh_inbox_gauge(pool), INBOX_GAUGE_SECONDS),
        ("refresh_health_gauges", lambda: refresh_health_gauges(pool), INBOX_GAUGE_SECONDS),
        ("value_transfers", lambda: value_transfers(pool, quotes), VALUATION_SECONDS),
    ]
    for name, job, seconds in jobs:
        scheduler.add_job(measured(name, job, scheduler.jobs_running), "interval", seconds=seconds,
                          id=name, max_instances=1, coalesce=True, misfire_grace_time=None)
    return scheduler
