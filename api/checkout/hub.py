"""Live payment states for every open checkout event stream of this process, from ONE database
connection however many customers are watching.

The hub LISTENs on `paywatch_payments` (the trigger of migration 0002 announces every status
change) and re-reads the watched payments in one query when one of them is announced. It also
re-reads them every `poll_s`: the trigger fires on status changes only, and an exception or an
amount can change on its own (underpaid -> more money arrives; expired -> paid_late), and a
notification lost with a dropped connection must cost seconds, not a stuck page. The hub only
runs (and only holds its connection) while at least one stream is open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import asyncpg

from api.checkout.view import CheckoutView, checkout_view
from db import checkout as db
from db import listen
from paywatch.core.chains import ChainRegistry

log = logging.getLogger("paywatch.api.checkout")


class TooManyStreams(Exception):
    """The process already serves its maximum number of event streams."""


class StreamLimit(TooManyStreams):
    """One client address or one payment already has its share of the streams: the rest of
    the process's streams stay for everyone else."""


class Mailbox:
    """The latest view of one payment for one stream: a slow reader skips to the newest.
    `gone` says whether the customer hung up (checked by the hub's reaper)."""

    def __init__(self, gone: Callable[[], bool] = lambda: False) -> None:
        self.gone = gone
        self.view: CheckoutView | None = None
        self.closed = False
        self._changed = asyncio.Event()

    def put(self, view: CheckoutView) -> None:
        self.view = view
        self._changed.set()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    async def wait(self, seconds: float) -> None:
        """Return when something was put or the hub closed, or after `seconds`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: see db/listen.py
                await self._changed.wait()
        self._changed.clear()


class CheckoutHub:
    def __init__(self, pool: asyncpg.Pool, chains: ChainRegistry, *, poll_s: float = 2.0,
                 max_streams: int = 1000,
                 max_per_client: int = 20, max_per_payment: int = 10,
                 reap_s: float = 0.5) -> None:
        self.pool, self.chains = pool, chains
        self.poll_s = poll_s
        self.max_streams = max_streams
        self.max_per_client = max_per_client
        self.max_per_payment = max_per_payment
        self.reap_s = reap_s
        self._watchers: dict[uuid.UUID, set[Mailbox]] = {}
        self._clients: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def streams(self) -> int:
        return self._clients.total()  # every stream counts once, under its client

    @contextlib.asynccontextmanager
    async def watch(self, payment_id: uuid.UUID, client: str,
                    gone: Callable[[], bool] = lambda: False) -> AsyncIterator[Mailbox]:
        self._admit(payment_id, client)
        mailbox = Mailbox(gone)
        self._watchers.setdefault(payment_id, set()).add(mailbox)
        self._clients[client] += 1
        self._ensure_running()
        try:
            yield mailbox
        finally:
            self._clients[client] -= 1
            if self._clients[client] <= 0:
                del self._clients[client]
            boxes = self._watchers.get(payment_id, set())
            boxes.discard(mailbox)
            if not boxes:
                self._watchers.pop(payment_id, None)

    def _admit(self, payment_id: uuid.UUID, client: str) -> None:
        if self._closed or self.streams >= self.max_streams:
            raise TooManyStreams
        if self._clients[client] >= self.max_per_client:
            raise StreamLimit(f"at most {self.max_per_client} live checkout pages per client")
        if len(self._watchers.get(payment_id, ())) >= self.max_per_payment:
            raise StreamLimit(f"at most {self.max_per_payment} live views of one payment")

    async def close(self) -> None:
        """On app shutdown: every stream ends now, instead of holding the drain for minutes."""
        self._closed = True
        for boxes in self._watchers.values():
            for mailbox in boxes:
                mailbox.close()
        for task in (self._task, self._reaper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._reaper = None

    def _ensure_running(self) -> None:
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = loop.create_task(self._run(), name="checkout-hub")
        if self._reaper is None:
            self._reaper = loop.create_task(self._reap(), name="checkout-reaper")

    async def _reap(self) -> None:
        """aiohttp does not cancel a handler when its client hangs up, and a stream only
        notices at its next write: one sweep over every stream ends those whose connection is
        gone, so their slots free within `reap_s` (one timer for all streams, not one each)."""
        try:
            while self._watchers:
                for boxes in list(self._watchers.values()):
                    for mailbox in list(boxes):
                        if not mailbox.closed and mailbox.gone():
                            mailbox.close()
                await asyncio.sleep(self.reap_s)
        finally:
            if self._reaper is asyncio.current_task():
                self._reaper = None

    async def _run(self) -> None:
        try:
            # Whatever breaks (database restart, pool timeout), the pages keep their last state
            # meanwhile and the next round catches up (db/listen.py).
            await listen.listen_and_reload(
                self.pool, listen.PAYMENTS_CHANNEL, name="checkout hub", reload=self.refresh,
                every_s=self.poll_s, on_notify=self._on_notify,
                done=lambda: not self._watchers, retry_s=self.poll_s)
        finally:
            # Reached without an await since the last check of _watchers, so a stream that
            # arrives from now on starts a new run.
            if self._task is asyncio.current_task():
                self._task = None

    def _on_notify(self, payload: str) -> bool:
        """Whether the announced payment is one a stream watches (then all are re-read)."""
        try:
            payment_id = uuid.UUID(json.loads(payload)["id"])
        except (ValueError, KeyError, TypeError):
            return False
        return payment_id in self._watchers

    async def refresh(self, conn: asyncpg.Connection) -> None:
        """Re-read every watched payment in one query (on the listening connection: the hub
        never takes a second one) and hand each stream its view."""
        ids = list(self._watchers)
        if not ids:
            return
        rows = await db.checkouts(conn, ids)
        now = datetime.now(UTC)
        for row in rows:
            view = checkout_view(row, now, self.chains)
            for mailbox in self._watchers.get(row["id"], ()):
                mailbox.put(view)
