"""The in-memory index reference -> open payment, O(1) per account key of a transaction.

Loaded from the database at start; kept current from `paywatch_payments` notifications (any
process may create or close a payment) and fully reloaded every `resync_s`, so a lost
notification costs seconds, not a payment."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import uuid
from typing import Any

import asyncpg

from db import watch
from db.pool import DATABASE_ERRORS
from paywatch.core.metrics import OPEN_PAYMENTS
from watcher.solana.matcher import OpenPayment

log = logging.getLogger("paywatch.watcher.solana.index")
CHAIN = "solana"


def _open(row: asyncpg.Record) -> OpenPayment:
    # A million open payments share a handful of recipients, assets and mints: one string
    # object each instead of a copy per payment (bench/scale.py memory measures it).
    mint = row["mint"]
    return OpenPayment(row["id"], row["reference"], sys.intern(row["recipient"]),
                       sys.intern(row["asset"]), sys.intern(mint) if mint else None,
                       row["memo"])


class ReferenceIndex:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.by_reference: dict[str, OpenPayment] = {}
        # payment id -> reference: a closed payment leaves the index in O(1), not by a scan of
        # every open payment (with 1M open, a scan per confirmation stalled the watcher)
        self.by_id: dict[Any, str] = {}

    def lookup(self, key: str) -> OpenPayment | None:
        return self.by_reference.get(key)

    def __len__(self) -> int:
        return len(self.by_reference)

    async def load(self) -> None:
        async with self.pool.acquire() as conn:
            rows = await watch.open_payments(conn, CHAIN)
        self.by_reference = {r["reference"]: _open(r) for r in rows}
        self.by_id = {p.id: ref for ref, p in self.by_reference.items()}
        OPEN_PAYMENTS.labels(CHAIN).set(len(self.by_reference))

    async def refresh(self, payment_id: Any) -> None:
        try:
            async with self.pool.acquire() as conn:
                row = await watch.open_payment(conn, CHAIN, payment_id)
        except DATABASE_ERRORS as exc:  # the next reload covers this payment
            log.warning("payment refresh failed", extra={"error": str(exc)})
            return
        if row is not None:
            self.by_reference[row["reference"]] = _open(row)
            self.by_id[row["id"]] = row["reference"]
        else:
            ref = self.by_id.pop(payment_id, None)
            if ref is not None:
                self.by_reference.pop(ref, None)
        OPEN_PAYMENTS.labels(CHAIN).set(len(self.by_reference))

    async def follow(self, resync_s: float) -> None:
        """LISTEN on a dedicated connection and reload everything every resync_s. A lost
        connection (a database restart) is replaced, and a reload covers what it missed."""
        while True:
            try:
                await self._listen(resync_s)
            except DATABASE_ERRORS as exc:
                log.warning("payment notifications lost; reconnecting", extra={"error": str(exc)})
            await asyncio.sleep(1.0)

    async def _listen(self, resync_s: float) -> None:
        conn = await self.pool.acquire()
        pending: set[asyncio.Task[None]] = set()
        lost = asyncio.Event()

        def on_notify(_c: Any, _pid: int, _channel: str, payload: str) -> None:
            try:
                note = json.loads(payload)
                if note.get("chain") != CHAIN:
                    return
                task = asyncio.get_running_loop().create_task(
                    self.refresh(uuid.UUID(note["id"])))
            except (ValueError, KeyError):
                log.warning("ignored a malformed payment notification")
                return
            pending.add(task)
            task.add_done_callback(pending.discard)

        conn.add_termination_listener(lambda _c: lost.set())
        try:
            await conn.add_listener("paywatch_payments", on_notify)
            await self.load()  # whatever changed while nobody was listening
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), resync_s)
                if not lost.is_set():
                    await self.load()
        finally:
            # The connection may be dead already: cleaning up must not turn into an error.
            with contextlib.suppress(Exception):
                await conn.remove_listener("paywatch_payments", on_notify)
            with contextlib.suppress(Exception):
                await self.pool.release(conn)
