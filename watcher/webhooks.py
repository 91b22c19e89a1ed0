"""Webhook delivery from the event outbox: at least once, signed, retried with backoff.

Each run: fan new events out into deliveries, claim the due ones (a lease, so nothing is held
across HTTP calls and a crashed process's claims come due again), POST them concurrently, and
record each outcome. Receivers dedupe by the event id they get in the body and in
`Paywatch-Event-Id`. The clock is injectable so tests drive days of retries without sleeping."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import aiohttp
import asyncpg
from aiohttp.abc import AbstractResolver

from db import events, webhooks
from paywatch import __version__
from paywatch.metrics import WEBHOOK_DELIVERIES
from paywatch.ssrf import REFUSED, RefusedAddress, UnsafeUrl, check_literal, delivery_session
from paywatch.webhooks import SIGNATURE_HEADER, next_attempt, sign

log = logging.getLogger("paywatch.webhooks")
# A claimed delivery is someone's for this long; a process killed mid-delivery leaves it to be
# claimed again when the lease runs out (so: at least once, never lost).
LEASE = timedelta(minutes=2)
DISABLE_AFTER_DAYS = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    """Delivers through its own session, whose resolver pins checked addresses (see
    paywatch.ssrf). A caller's session is accepted only with allow_private (tests, benches,
    the demo), where there is nothing to refuse; close with `aclose()` or `async with`."""

    def __init__(self, pool: asyncpg.Pool, session: aiohttp.ClientSession | None = None, *,
                 allow_private: bool, clock: Callable[[], datetime] = utc_now,
                 batch: int = 100, concurrency: int = 16, timeout_s: float = 10.0,
                 lease: timedelta = LEASE, resolver: AbstractResolver | None = None) -> None:
        if session is not None and not allow_private:
            raise ValueError("deliveries under the address policy need the Dispatcher's own "
                             "session (it pins checked addresses); pass no session")
        self.pool, self.clock, self.lease = pool, clock, lease
        self.allow_private, self.resolver = allow_private, resolver
        self.session, self.own_session = session, session is None
        self.batch, self.timeout = batch, aiohttp.ClientTimeout(total=timeout_s)
        self.semaphore = asyncio.Semaphore(concurrency)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None,
                        ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self.own_session and self.session is not None:
            await self.session.close()
            self.session = None

    def _session(self) -> aiohttp.ClientSession:
        # Made on first use: a ClientSession wants the running loop.
        if self.session is None:
            self.session = delivery_session(self.allow_private, self.resolver)
        return self.session

    async def run_until_idle(self, max_batches: int = 50) -> int:
        """Passes until a batch comes back short (nothing more is due), at most `max_batches`
        per call: one pass per scheduler tick capped delivery at one batch per interval."""
        total = 0
        for _ in range(max_batches):
            done = await self.run_once()
            total += done
            if done < self.batch:
                break
        return total

    async def run_once(self) -> int:
        """One pass; returns how many deliveries were attempted."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            await webhooks.fan_out(conn, now, 10 * self.batch)
            due = await webhooks.claim_due(conn, now, self.batch, self.lease)
        await asyncio.gather(*(self._deliver(d) for d in due))
        await self._disable_failing(now)
        return len(due)

    async def _deliver(self, d: asyncpg.Record) -> None:
        body = json.dumps({
            "id": str(d["event_id"]), "type": d["type"],
            "created_at": d["event_created_at"].astimezone(UTC).isoformat().replace(
                "+00:00", "Z"),
            "data": d["data"]}, separators=(",", ":")).encode()
        now = self.clock()
        headers = {"Content-Type": "application/json", "User-Agent": f"paywatch/{__version__}",
                   "Paywatch-Event-Id": str(d["event_id"]),
                   SIGNATURE_HEADER: sign(d["secret"], int(now.timestamp()), body)}
        status, error = await self._post(d["url"], body, headers)
        async with self.pool.acquire() as conn:
            if status is not None and 200 <= status < 300:
                await webhooks.delivered(conn, d["id"], now, status)
                WEBHOOK_DELIVERIES.labels("delivered").inc()
                return
            retry_at = next_attempt(d["created_at"], d["attempts"], now)
            await webhooks.failed_attempt(conn, d["id"], now, retry_at, status, error)
        WEBHOOK_DELIVERIES.labels("retrying" if retry_at else "failed").inc()
        log.info("webhook delivery failed", extra={
            "delivery": d["id"], "event": str(d["event_id"]), "status": status,
            "error": error, "retry_at": retry_at.isoformat() if retry_at else None})

    async def _post(self, url: str, body: bytes,
                    headers: dict[str, str]) -> tuple[int | None, str]:
        async with self.semaphore:
            try:
                check_literal(url, self.allow_private)
                async with self._session().post(url, data=body, headers=headers,
                                                timeout=self.timeout,
                                                allow_redirects=False) as r:
                    return r.status, "" if r.status < 300 else f"HTTP {r.status}"
            except UnsafeUrl:
                return None, REFUSED
            except aiohttp.ClientConnectorDNSError as exc:
                # The same words whether the name is unknown or points inside: no oracle.
                if isinstance(exc.os_error, RefusedAddress):
                    return None, REFUSED
                return None, f"{type(exc).__name__}: {exc}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return None, f"{type(exc).__name__}: {exc}"

    async def _disable_failing(self, now: datetime) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            for endpoint in await webhooks.disable_failing(conn, now, DISABLE_AFTER_DAYS):
                log.warning("webhook endpoint disabled", extra={"endpoint": str(endpoint["id"])})
                await events.emit(conn, store_id=endpoint["store_id"],
                                  type_="webhook_endpoint.disabled",
                                  data=_disabled(endpoint, DISABLE_AFTER_DAYS))


def _disabled(endpoint: Any, days: int) -> dict[str, Any]:
    return {"endpoint_id": str(endpoint["id"]), "url": endpoint["url"],
            "reason": f"every delivery failed for {days} days"}
