"""The in-memory index reference -> open payment, O(1) per account key of a transaction, and
(wallet, mint) -> amount -> unique-amount payment, O(1) per referenceless transfer.

Loaded from the database at start; kept current from `paywatch_payments` notifications (any
process may create or close a payment) and fully reloaded every `resync_s`, so a lost
notification costs seconds, not a payment (db/listen.py runs that loop)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import asyncpg

from db import listen, watch
from db import refunds as db_refunds
from paywatch.core.metrics import OPEN_PAYMENTS
from paywatch.core.states import OPEN_PAYMENT, WATCHED_PAYMENT
from watcher.solana.matcher import OpenPayment
from watcher.solana.packed import PackedPayments
from watcher.solana.refunds import PendingRefund

log = logging.getLogger("paywatch.watcher.solana.index")
CHAIN = "solana"


def _put(payments: PackedPayments, row: asyncpg.Record) -> None:
    payments.put(row["reference"], row["id"], (row["recipient"], row["asset"], row["mint"]),
                 row["memo"], row["unique_due"], row["status"] in OPEN_PAYMENT)


def _refund(row: asyncpg.Record) -> PendingRefund:
    return PendingRefund(row["id"], row["store_id"], row["reference"], row["source"],
                         row["destination"], row["asset"], row["mint"], int(row["amount"]))


# Rows per round trip when the whole index is re-read: the Records of a million payments at
# once cost ~500 MB for a moment, and the allocator keeps much of it (bench/scale.py memory).
LOAD_BATCH = 10_000


class ReferenceIndex:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        # reference -> open payment, payment id -> reference (a closed payment leaves in O(1)),
        # and (wallet, mint) -> amount -> unique-amount payment, packed (watcher/solana/packed.py)
        self.payments = PackedPayments()
        # One reload at a time: two interleaved in-place reloads would each drop what the
        # other had read and it had not (the start runs one, the LISTEN loop another).
        self._reloading = asyncio.Lock()
        # payments announced by a notification and not re-read yet
        self._changed: set[uuid.UUID] = set()
        # Pending refunds (the merchant's wallet sending money back) by their own reference,
        # kept current the same way: their notifications carry kind 'refund' (migration 0008).
        self.refunds: dict[str, PendingRefund] = {}
        self._refunds_changed: set[uuid.UUID] = set()

    def lookup(self, key: str) -> OpenPayment | None:
        return self.payments.get(key)

    def forget(self, reference: str) -> None:
        """Drop one payment as a lost notification would leave the index (tests)."""
        self.payments.remove_reference(reference)

    def lookup_refund(self, key: str) -> PendingRefund | None:
        return self.refunds.get(key)

    async def learn_refunds(self, conn: asyncpg.Connection, references: list[str]) -> bool:
        """Index the pending refunds among `references` straight from the table (a refund made
        a moment ago may not have reached the index yet). True when the table has one."""
        rows = await db_refunds.pending_by_reference(conn, CHAIN, references)
        for row in rows:
            self.refunds.setdefault(row["reference"], _refund(row))
        return bool(rows)  # any row: see `learn`

    def lookup_amount(self, wallet: str, mint: str | None, amount: int) -> OpenPayment | None:
        """The watched unique-amount payment to `wallet` of that asset asking exactly
        `amount`."""
        return self.payments.get_by_amount(wallet, mint, amount)

    def __len__(self) -> int:
        return len(self.payments)

    async def load(self, conn: asyncpg.Connection | None = None) -> None:
        """Re-read every open payment (on `conn`, else on a connection of the pool's)."""
        if conn is None:
            async with self.pool.acquire() as own:
                return await self.load(own)
        async with self._reloading:
            await self._load(conn)

    async def _load(self, conn: asyncpg.Connection) -> None:
        # Announced changes from before this read are in it: the next `_apply_changed` only
        # needs those announced from now on.
        self._changed.clear()
        self._refunds_changed.clear()
        self.refunds = {r["reference"]: _refund(r)
                        for r in await db_refunds.pending_refunds(conn, CHAIN)}
        # Re-read in place, in batches: lookups meanwhile see every payment (old or new row),
        # and the memory never holds the whole result at once. A payment `learn` indexes
        # meanwhile counts as read; what the read did not meet has closed and leaves.
        self.payments.begin_reload()
        async for rows in watch.open_payments_batches(conn, CHAIN, WATCHED_PAYMENT,
                                                      LOAD_BATCH):
            for row in rows:
                _put(self.payments, row)
        self.payments.end_reload()
        OPEN_PAYMENTS.labels(CHAIN).set(len(self.payments))

    async def learn(self, conn: asyncpg.Connection, references: list[str], wallet: str,
                    mint: str | None, amount: int) -> bool:
        """Index the watched payments a transfer could pay (by one of `references`, or as the
        unique amount `amount` of `mint` at `wallet`) straight from the table: a payment made a
        moment ago may not have reached the index yet. True when the table has one."""
        rows = await watch.open_payments_for_transfer(conn, CHAIN, WATCHED_PAYMENT, references,
                                                      wallet, mint, amount)
        self._index_rows([r for r in rows if self.payments.get(r["reference"]) is None])
        # Any row, not only one new to the index: a notification may have indexed the payment
        # between the caller's first match and this read, and the caller must match again
        # (answering "nothing new" sent a paid payment's transfer to the inbox).
        return bool(rows)

    def _index_rows(self, rows: list[asyncpg.Record]) -> None:
        for row in rows:
            _put(self.payments, row)
        OPEN_PAYMENTS.labels(CHAIN).set(len(self.payments))

    async def follow(self, resync_s: float) -> None:
        """Follow `paywatch_payments` and reload everything every resync_s (and after a lost
        connection, which loses the notifications sent meanwhile)."""
        await listen.listen_and_reload(
            self.pool, listen.PAYMENTS_CHANNEL, name="solana reference index",
            reload=self.load, changed=self._apply_changed, on_notify=self._on_notify,
            every_s=resync_s)

    def _on_notify(self, payload: str) -> bool:
        try:
            note = json.loads(payload)
            if note.get("chain") != CHAIN:
                return False
            changed = self._refunds_changed if note.get("kind") == "refund" else self._changed
            changed.add(uuid.UUID(note["id"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed payment notification")
            return False
        return True

    async def _apply_changed(self, conn: asyncpg.Connection) -> None:
        """Re-read the announced payments in one query: those still open are (re)indexed, the
        others leave. If this fails, the reload after reconnecting covers them."""
        await self._apply_refunds(conn)
        ids, self._changed = self._changed, set()
        if not ids:  # a reload in between took them
            return
        rows = await watch.open_payments_among(conn, CHAIN, WATCHED_PAYMENT, list(ids))
        self._index_rows(rows)
        for payment_id in ids.difference(r["id"] for r in rows):
            self.payments.remove_id(payment_id)
        OPEN_PAYMENTS.labels(CHAIN).set(len(self.payments))

    async def _apply_refunds(self, conn: asyncpg.Connection) -> None:
        """Re-read the announced refunds: pending ones are (re)indexed, the others leave."""
        ids, self._refunds_changed = self._refunds_changed, set()
        if not ids:
            return
        rows = await db_refunds.pending_among(conn, CHAIN, list(ids))
        pending = {r["id"] for r in rows}
        self.refunds = {ref: r for ref, r in self.refunds.items()
                        if r.id not in ids or r.id in pending}
        for row in rows:
            self.refunds[row["reference"]] = _refund(row)
