"""Webhook delivery from the event outbox: at least once, signed, retried with backoff.

Each run: fan new events out into deliveries, claim the due ones (a lease, so nothing is held
across HTTP calls and a crashed process's claims come due again), POST each as a task of its
own, and record each outcome. Receivers dedupe by the event id they get in the body and in
`Paywatch-Event-Id`. The clock is injectable so tests drive days of retries without sleeping.

Isolation: each endpoint has a budget of `per_endpoint` deliveries in flight (per process); the
claim skips endpoints whose budget is taken, and no pass waits for a delivery to finish, so an
endpoint that hangs holds only its own slots and every other store's webhooks go on.
Order: none is promised. An endpoint's due deliveries start oldest first, but up to
`per_endpoint` run at once and failures are retried later, so receivers may see events out of
order (each carries `created_at`; fetch the object for its current state).

Wake-ups: `follow()` listens for new outbox rows (db/events.py notifies
`paywatch_events` in the transaction that wrote them) and claims at once, on its one LISTEN
connection per process; the scheduler's tick (`run_until_idle`) stays as the safety net for
retries coming due and for a notification lost while the connection was down."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import aiohttp
import asyncpg
from aiohttp.abc import AbstractResolver

from db import events, listen, webhooks
from db.pool import DATABASE_ERRORS, dumps_json
from paywatch import __version__
from paywatch.core.metrics import WEBHOOK_DELIVERIES
from paywatch.core.objects import rfc3339
from paywatch.core.ssrf import REFUSED, RefusedAddress, UnsafeUrl, check_literal, delivery_session
from paywatch.core.webhooks import SIGNATURE_HEADER, next_attempt, sign

log = logging.getLogger("paywatch.webhooks")
# A claimed delivery is someone's for this long; a process killed mid-delivery leaves it to be
# claimed again when the lease runs out (so: at least once, never lost).
LEASE = timedelta(minutes=2)
DISABLE_AFTER_DAYS = 5
# Deliveries in flight per endpoint (per process): enough for a healthy receiver's backlog to
# drain quickly, few enough that one that hangs takes little of `concurrency`.
PER_ENDPOINT = 8
# The listening loop's own full pass (besides the one at every (re)connect): rare, the tick
# already sweeps for what a notification did not announce.
FOLLOW_RELOAD_S = 60.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    """Delivers through its own session, whose resolver pins checked addresses (see
    paywatch.core.ssrf). A caller's session is accepted only with allow_private (tests, benches,
    the demo), where there is nothing to refuse; close with `aclose()` or `async with`."""

    def __init__(self, pool: asyncpg.Pool, session: aiohttp.ClientSession | None = None, *,
                 allow_private: bool, clock: Callable[[], datetime] = utc_now,
                 batch: int = 100, concurrency: int = 64, per_endpoint: int = PER_ENDPOINT,
                 timeout_s: float = 10.0, lease: timedelta = LEASE,
                 resolver: AbstractResolver | None = None) -> None:
        if session is not None and not allow_private:
            raise ValueError("deliveries under the address policy need the Dispatcher's own "
                             "session (it pins checked addresses); pass no session")
        self.pool, self.clock, self.lease = pool, clock, lease
        self.allow_private, self.resolver = allow_private, resolver
        self.session, self.own_session = session, session is None
        self.batch, self.timeout = batch, aiohttp.ClientTimeout(total=timeout_s)
        # concurrency: deliveries in flight in this process, all endpoints together.
        self.concurrency, self.per_endpoint = concurrency, per_endpoint
        self.in_flight: dict[asyncio.Task[None], Any] = {}  # task -> its endpoint id
        self.busy: Counter[Any] = Counter()  # endpoint id -> deliveries in flight
        self.saturated: set[Any] = set()  # endpoints at their budget at the last claim
        self.full = False  # the last claim filled all the room there was
        # Claims on finishing: only under run_until_idle (run_once is a step of a driven clock).
        self.refills, self.closing, self.refill_again = False, False, False
        self.refill: asyncio.Task[None] | None = None
        # One claim at a time (a tick and a refill may overlap): each must see the other's
        # deliveries in `busy`, or together they would exceed an endpoint's budget.
        self.claiming = asyncio.Lock()
        self.following: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None,
                        ) -> None:
        await self.aclose()

    async def aclose(self, drain_s: float = 10.0) -> None:
        """Let deliveries in flight finish (for up to `drain_s`), cancel the rest (their leases
        bring them back: at least once), then close the session if it is ours."""
        self.closing = True
        if self.following is not None:  # first: no new claims from notifications
            self.following.cancel()
            await asyncio.gather(self.following, return_exceptions=True)
        if self.refill is not None:
            await self.refill
        if self.in_flight:
            await asyncio.wait(set(self.in_flight), timeout=drain_s)
            for task in list(self.in_flight):
                task.cancel()
            await asyncio.gather(*self.in_flight, return_exceptions=True)
        if self.own_session and self.session is not None:
            await self.session.close()
            self.session = None

    def _session(self) -> aiohttp.ClientSession:
        # Made on first use: a ClientSession wants the running loop.
        if self.session is None:
            self.session = delivery_session(self.allow_private, self.resolver)
        return self.session

    async def run_until_idle(self, max_passes: int = 50) -> int:
        """The scheduler's job: start what is due and within budget, and return without
        waiting for any of it (a slow delivery goes on as a task while the next tick claims
        for everyone else). From then on, a delivery finishing at an endpoint that had more
        due than its budget (or when this process was full) claims again at once, so a
        healthy endpoint's backlog drains at its own pace, not one budget per tick.
        Returns how many deliveries it started."""
        total = await self._start_all_due(max_passes)
        await self._disable_failing(self.clock())
        return total

    async def _start_all_due(self, max_passes: int = 50,
                             conn: asyncpg.Connection | None = None) -> int:
        self.refills = True
        total = 0
        for _ in range(max_passes):
            started = len(await self._start_due(self.clock(), conn))
            total += started
            if started < self.batch:  # nothing more due, or every budget taken
                break
        return total

    def start_following(self, every_s: float = FOLLOW_RELOAD_S) -> None:
        """Run `follow` as a task of the dispatcher's own, until `aclose()` (the scheduler
        starts it with its jobs)."""
        if self.following is None or self.following.done():
            self.following = asyncio.create_task(self.follow(every_s),
                                                 name="webhook-dispatcher-follow")

    async def follow(self, every_s: float = FOLLOW_RELOAD_S) -> None:
        """Claim and start what is due whenever an event is written, until cancelled. The
        claims run on the listening connection (db/listen.py: notifications arriving during a
        pass wake the next one, so a burst is taken in a few passes, not one per event), and
        a pass at every (re)connect takes what was written while nobody listened."""
        await listen.listen_and_reload(
            self.pool, listen.EVENTS_CHANNEL, name="webhook dispatcher",
            reload=self._woken, on_notify=_any, every_s=every_s,
            done=lambda: self.closing)

    async def _woken(self, conn: asyncpg.Connection) -> None:
        if not self.closing:
            await self._start_all_due(conn=conn)

    async def run_once(self) -> int:
        """One pass that waits for the deliveries it started (tests and tools: each call is a
        step of the injected clock). Returns how many deliveries were attempted."""
        now = self.clock()
        started = await self._start_due(now)
        if started:
            await asyncio.wait(started)
        await self._disable_failing(now)
        return len(started)

    async def _start_due(self, now: datetime,
                         conn: asyncpg.Connection | None = None) -> list[asyncio.Task[None]]:
        async with self.claiming:
            if conn is not None:
                return await self._claim_and_start(conn, now)
            async with self.pool.acquire() as own:
                return await self._claim_and_start(own, now)

    async def _claim_and_start(self, conn: asyncpg.Connection,
                               now: datetime) -> list[asyncio.Task[None]]:
        room = min(self.batch, self.concurrency - len(self.in_flight))
        if room <= 0:
            return []
        endpoints = list(self.busy)
        async with conn.transaction():
            await webhooks.fan_out(conn, now, 10 * self.batch)
            due = await webhooks.claim_due(conn, now, room, self.lease, self.per_endpoint,
                                           endpoints, [self.busy[e] for e in endpoints])
        started = []
        for d in due:
            task = asyncio.create_task(self._deliver_safely(d))
            self.in_flight[task] = d["endpoint_id"]
            self.busy[d["endpoint_id"]] += 1
            task.add_done_callback(self._finished)
            started.append(task)
        # Where a budget (or the process) was the limit, more may be due: refill on finishing.
        self.full = len(due) == room
        self.saturated = {e for e, n in self.busy.items() if n >= self.per_endpoint}
        return started

    def _finished(self, task: asyncio.Task[None]) -> None:
        endpoint = self.in_flight.pop(task)
        self.busy[endpoint] -= 1
        if self.busy[endpoint] <= 0:
            del self.busy[endpoint]
        if self.refills and not self.closing and (self.full or endpoint in self.saturated):
            self._refill_soon()

    def _refill_soon(self) -> None:
        # One refill at a time; deliveries finishing meanwhile ask it for one more pass.
        if self.refill is not None and not self.refill.done():
            self.refill_again = True
            return
        self.refill = asyncio.create_task(self._refill())

    async def _refill(self) -> None:
        try:
            self.refill_again = True
            while self.refill_again and not self.closing:
                self.refill_again = False
                await self._start_due(self.clock())
        except DATABASE_ERRORS as exc:  # the next tick tries again
            log.warning("webhook claim failed; will run again", extra={"error": str(exc)})
        except Exception:
            log.exception("webhook claim failed")

    async def _deliver_safely(self, d: asyncpg.Record) -> None:
        # A task of its own: nobody awaits its errors, so it reports them here. An outcome
        # that could not be recorded leaves the claim to its lease (delivered again later).
        try:
            await self._deliver(d)
        except DATABASE_ERRORS as exc:
            log.warning("webhook outcome not recorded; the delivery comes due again",
                        extra={"delivery": d["id"], "error": str(exc)})
        except Exception:
            log.exception("webhook delivery failed unexpectedly", extra={"delivery": d["id"]})

    async def _deliver(self, d: asyncpg.Record) -> None:
        body = dumps_json({"id": str(d["event_id"]), "type": d["type"],
                           "created_at": rfc3339(d["event_created_at"]), "data": d["data"]})
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
        try:
            check_literal(url, self.allow_private)
            async with self._session().post(url, data=body, headers=headers,
                                            timeout=self.timeout, allow_redirects=False) as r:
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


def _any(_payload: str) -> bool:
    return True  # every new event may be due somewhere: one pass takes them all


def _disabled(endpoint: Any, days: int) -> dict[str, Any]:
    return {"endpoint_id": str(endpoint["id"]), "url": endpoint["url"],
            "reason": f"every delivery failed for {days} days"}
