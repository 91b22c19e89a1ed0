"""The Solana watcher: notifications and backfill feed one bounded queue of signatures; workers
fetch each transaction (bounded by the RPC pool), match it against the reference index and the
unique amounts of the watched accounts, and record transfers (matched ones, and those into a
watched account that pay nothing: the store's inbox) and settle payments in one database
transaction; a tracker follows recorded
transfers to `finalized` (or reverts them) with batched getSignatureStatuses, and a
reconciliation pass looks references up directly for payments about to expire.

Nothing about correctness lives in memory: transfers are unique per (chain, tx, instruction)
and every state change is guarded, so processing a signature twice changes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg

from db import listen, watch
from db import refunds as db_refunds
from db import transfers as db_transfers
from db.pool import DATABASE_ERRORS
from paywatch.core.metrics import BACKFILL_SIGNATURES, QUEUE_DEPTH, SLOT_LAG
from paywatch.services import refunds, transfers
from paywatch.services.payments import Change, reference_match, resettle
from watcher.health import HealthStamp
from watcher.rpc import ERROR_WINDOW_S, RpcError, RpcPool, RpcUnavailable
from watcher.solana import answers
from watcher.solana.accounts import watched_accounts
from watcher.solana.index import ReferenceIndex
from watcher.solana.matcher import Finding, WatchedAccount, account_keys, match_transaction
from watcher.solana.refunds import RefundFinding, match_refunds
from watcher.solana.stream import LogStream

log = logging.getLogger("paywatch.watcher.solana")
CHAIN = "solana"
ACTOR = "watcher:solana"
STATUS_BATCH = 256
PAGE = 1000


@dataclass(frozen=True)
class WatcherConfig:
    rpc_urls: list[str]
    ws_urls: list[str]
    commitment: str = "confirmed"
    workers: int = 8
    queue_size: int = 10_000
    tracker_interval_s: float = 1.0
    resync_s: float = 30.0
    revert_after_s: float = 90.0
    reconcile_batch: int = 20
    accounts_s: float = 5.0  # the watched accounts re-read at least this often
    follow_stores: bool = True  # and at once when a store's accounts change (migration 0013)
    idle_s: float = 60.0
    # PAYWATCH_SOLANA_GENESIS_HASH: the cluster every RPC endpoint must be on, checked before
    # watching (None: not checked; `paywatch doctor` then names the cluster it finds).
    genesis_hash: str | None = None
    cluster_retry_s: float = 60.0


class SolanaWatcher:
    def __init__(self, pool: asyncpg.Pool, session: aiohttp.ClientSession,
                 config: WatcherConfig, public_url: str | None = None) -> None:
        self.pool, self.config = pool, config
        self.change = Change(ACTOR, public_url)  # how its payment events link to checkout
        self.rpc = RpcPool(config.rpc_urls, session)
        self.index = ReferenceIndex(pool)
        # account -> what it is (whose wallet, which asset, which store's inbox). The stream
        # subscribes to every one of them (logsSubscribe mentions) and backfills each, so a
        # transfer without any reference of ours is fetched too.
        self.watched: dict[str, WatchedAccount] = {}
        self.queue: asyncio.Queue[str] = asyncio.Queue(config.queue_size)
        # Recently processed signatures, to skip repeats: True if the transaction matched a
        # payment. One that matched nothing may match once the index learns of a payment late
        # (a failed refresh), so reconciliation looks at those again.
        self.done: OrderedDict[str, bool] = OrderedDict()
        self.stream = LogStream(config.ws_urls, session, config.commitment, self.enqueue,
                                self.backfill_all, idle_s=config.idle_s)
        self.health = HealthStamp(pool, CHAIN)
        self.lag: int | None = None   # slots behind, once measured (measure_lag)

    async def run(self) -> None:
        await self.on_the_configured_cluster()
        await self.index.load()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.stream.run(), name="solana-stream")
            tg.create_task(self.index.follow(self.config.resync_s), name="solana-index")
            tg.create_task(self._every(self.config.tracker_interval_s, self.track),
                           name="solana-tracker")
            tg.create_task(self._follow_accounts(), name="solana-accounts")
            tg.create_task(self._every(10.0, self.measure_lag), name="solana-lag")
            tg.create_task(self._every(self.health.every_s, self.report_health),
                           name="solana-health")
            for n in range(self.config.workers):
                tg.create_task(self._worker(), name=f"solana-worker-{n}")

    async def on_the_configured_cluster(self) -> None:
        """Return once every RPC endpoint that answers is on the configured cluster (at least
        one answering). A node on devnet by mistake would have free devnet coins taken for
        payments: until the operator fixes it, this watcher watches nothing, says so at ERROR
        each `cluster_retry_s`, and stamps no health (so /readyz says not ready)."""
        expected = self.config.genesis_hash
        if expected is None:
            return
        while True:
            found = await self.rpc.ask_each("getGenesisHash", [])
            wrong = {label: answer for label, answer in found.items()
                     if isinstance(answer, str) and answer != expected}
            if wrong:
                log.error("an RPC endpoint is on another cluster: not watching", extra={
                    "expected_genesis_hash": expected, "found": wrong})
            elif any(isinstance(answer, str) for answer in found.values()):
                return
            else:
                log.warning("no RPC endpoint answered getGenesisHash; will retry",
                            extra={"errors": {k: str(v) for k, v in found.items()}})
            await asyncio.sleep(self.config.cluster_retry_s)

    async def refresh_accounts(self, conn: asyncpg.Connection | None = None) -> None:
        if conn is None:
            async with self.pool.acquire() as own:
                assets = await watch.watched_assets(own, CHAIN)
        else:
            assets = await watch.watched_assets(conn, CHAIN)
        self.watched = await watched_accounts(assets, self.rpc)
        self.stream.accounts = set(self.watched)

    async def _follow_accounts(self) -> None:
        """Re-read the watched accounts when a store or its accepted assets change (a new
        store's first payment no longer waits up to `accounts_s` to be seen: `paywatch demo`
        4.9 s), and every `accounts_s` anyway, for a notification lost while not listening."""
        if not self.config.follow_stores:
            await self._every(self.config.accounts_s, self.refresh_accounts)
            return
        await listen.listen_and_reload(
            self.pool, listen.STORES_CHANNEL, name="solana watched accounts",
            reload=self._refresh_accounts_on, on_notify=lambda _payload: True,
            every_s=self.config.accounts_s)

    async def _refresh_accounts_on(self, conn: asyncpg.Connection) -> None:
        try:
            await self.refresh_accounts(conn)
        except (RpcUnavailable, RpcError) as exc:  # the chain's trouble: the next round retries
            log.warning("watched accounts not refreshed; will retry", extra={"error": str(exc)})

    # ----- signatures in ------------------------------------------------------------------

    def enqueue(self, signature: str) -> None:
        if signature in self.done:
            return
        try:
            self.queue.put_nowait(signature)
        except asyncio.QueueFull:
            # Dropping is safe: the next backfill finds it again from the cursor.
            log.warning("signature queue full; leaving it to backfill")
        QUEUE_DEPTH.labels(CHAIN).set(self.queue.qsize())

    async def backfill_all(self, accounts: set[str]) -> None:
        """Run on every (re)connect for every account, and for an account subscribed later. It
        must not give up: what was paid while we were away (or before the account was watched)
        is only found here, so a failure (database or every RPC endpoint down) is retried."""
        todo = sorted(accounts)
        for attempt in range(1_000_000):
            try:
                while todo:
                    await self.backfill(todo[0])
                    todo.pop(0)
                return
            except (RpcUnavailable, RpcError, *DATABASE_ERRORS) as exc:  # type: ignore[misc]
                log.warning("backfill failed; retrying", extra={"error": str(exc)})
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(attempt, 6)))

    async def backfill(self, account: str) -> None:
        """Everything since the account's cursor, oldest first, then move the cursor."""
        async with self.pool.acquire() as conn:
            row = await watch.cursor(conn, CHAIN, account)
        until = row["cursor"] if row else None
        newest: list[dict[str, Any]] = []
        before = None
        while True:
            config: dict[str, Any] = {"limit": PAGE, "commitment": "confirmed"}
            config |= {k: v for k, v in (("until", until), ("before", before)) if v}
            page = await self.rpc.call("getSignaturesForAddress", [account, config],
                                       parse=answers.signatures)
            newest += page
            BACKFILL_SIGNATURES.labels(CHAIN).inc(len(page))
            if len(page) < PAGE or until is None:  # first run: the newest page is enough
                break
            before = page[-1]["signature"]
        for item in reversed(newest):
            # An account's first backfill reads history from before paywatch watched it: what
            # pays a payment counts, but older money is not news for the inbox.
            await self.process(item["signature"], inbox=until is not None)
        if newest:
            async with self.pool.acquire() as conn:
                await watch.save_cursor(conn, CHAIN, account, newest[0]["signature"],
                                        int(newest[0]["slot"]))

    async def _worker(self) -> None:
        while True:
            signature = await self.queue.get()
            QUEUE_DEPTH.labels(CHAIN).set(self.queue.qsize())
            try:
                await self.process(signature)
            except (RpcUnavailable, *DATABASE_ERRORS) as exc:  # type: ignore[misc]
                log.warning("processing failed; retrying later",
                            extra={"signature": signature, "error": str(exc)})
                await asyncio.sleep(1)
                self.enqueue(signature)
            except Exception:
                log.exception("unexpected error processing %s", signature)

    # ----- one transaction --------------------------------------------------------------

    async def process(self, signature: str, *, recheck_unmatched: bool = False,
                      inbox: bool = True) -> None:
        if self.done.get(signature, False) or (signature in self.done and not recheck_unmatched):
            return
        tx = await self._fetch(signature)
        if tx is None:
            return  # not visible at `confirmed` yet: the tracker or a backfill brings it back
        findings = self._match(tx)
        if any(f.unmatched_reason for f in findings) and await self._learn(tx, findings):
            findings = self._match(tx)
        kept = [f for f in findings if inbox or not f.unmatched_reason]
        sent = await self._refunds_sent(tx)
        if kept or sent:
            await self._record(signature, tx, kept, sent)
        if len(kept) == len(findings):
            self._remember(signature, bool(findings) or bool(sent))
        # else: left unremembered, so its notification (if it is new after all) records it

    def _match(self, tx: dict[str, Any]) -> list[Finding]:
        return match_transaction(tx, self.index.lookup, self.watched.get,
                                 self.index.lookup_amount)

    async def _learn(self, tx: dict[str, Any], findings: list[Finding]) -> bool:
        """Before money goes to the inbox, ask the table (not the index, which may lag behind a
        payment made a moment ago) whether a watched payment has one of the transaction's keys
        as its reference, or asks that unique amount. True when the index learned one."""
        keys = account_keys(tx)
        learned = False
        async with self.pool.acquire() as conn:
            for f in findings:
                account = self.watched.get(f.recipient)
                if f.unmatched_reason and account is not None:
                    learned |= await self.index.learn(conn, keys, account.wallet, account.mint,
                                                      f.sent)
        return learned

    async def _refunds_sent(self, tx: dict[str, Any]) -> list[RefundFinding]:
        """The transaction's transfers that pay a pending refund. When a watched wallet signed
        it (the merchant sending money) and the index knows none of its references, the table
        is asked: a refund made a moment ago may not have reached the index yet."""
        sent = match_refunds(tx, self.index.lookup_refund)
        if sent or not self._signed_by_watched(tx):
            return sent
        async with self.pool.acquire() as conn:
            if not await self.index.learn_refunds(conn, account_keys(tx)):
                return []
        return match_refunds(tx, self.index.lookup_refund)

    def _signed_by_watched(self, tx: dict[str, Any]) -> bool:
        message = tx["transaction"]["message"]
        signers = message["accountKeys"][:int(message.get("header", {})
                                              .get("numRequiredSignatures", 1))]
        wallets = {a.wallet for a in self.watched.values()}
        return any(key in wallets for key in signers)

    async def _fetch(self, signature: str) -> dict[str, Any] | None:
        for delay in (0, 0.2, 0.5, 1.0):
            await asyncio.sleep(delay)
            try:
                tx = await self.rpc.call("getTransaction", [signature, {
                    "encoding": "json", "commitment": "confirmed",
                    "maxSupportedTransactionVersion": 0}], parse=answers.transaction)
            except RpcError as exc:
                log.warning("transaction not readable", extra={"signature": signature,
                                                               "error": str(exc)})
                return None
            if tx is not None:
                return tx
        return None

    async def _record(self, signature: str, tx: dict[str, Any], findings: list[Finding],
                      sent: list[RefundFinding]) -> None:
        block_time = tx.get("blockTime")
        when = datetime.fromtimestamp(block_time, UTC) if block_time else None
        async with self.pool.acquire() as conn, conn.transaction():
            touched = set()
            for f in findings:
                matched_by = f.matched_by
                if matched_by == "reference":  # or the Transaction Request's own payer paid
                    matched_by = await reference_match(conn, f.payment_id, f.sender)
                inserted = await transfers.record(conn, {
                    "chain": CHAIN, "tx_id": signature, "index": f.index,
                    "payment_id": f.payment_id, "asset": f.asset, "mint": f.mint,
                    "sender": f.sender, "recipient": f.recipient, "amount": f.amount,
                    "memo": f.memo, "slot": tx.get("slot"), "block_time": when,
                    "status": "rejected" if f.reject_reason else "confirmed",
                    "reject_reason": f.reject_reason, "matched_by": matched_by,
                    "via_program": f.via_program, "store_id": f.store_id,
                    "unmatched_reason": f.unmatched_reason})
                if inserted and f.payment_id is not None and not f.reject_reason:
                    touched.add(f.payment_id)
            for payment_id in touched:
                await resettle(conn, payment_id, self.change)
            await self._record_refunds(conn, signature, tx, when, sent)

    async def _record_refunds(self, conn: asyncpg.Connection, signature: str,
                              tx: dict[str, Any], when: datetime | None,
                              sent: list[RefundFinding]) -> None:
        """Outgoing transfers that pay refunds: in the one ledger (direction 'out', the refund,
        no payment), then each refund decided from its transfers."""
        touched = set()
        for f in sent:
            inserted = await transfers.record(conn, {
                "chain": CHAIN, "tx_id": signature, "index": f.index, "payment_id": None,
                "asset": f.refund.asset, "mint": f.refund.mint, "sender": f.sender,
                "recipient": f.recipient, "amount": f.amount, "slot": tx.get("slot"),
                "block_time": when, "status": "rejected" if f.reject_reason else "confirmed",
                "reject_reason": f.reject_reason,
                "matched_by": None if f.reject_reason else "reference",
                "via_program": f.via_program, "store_id": f.refund.store_id,
                "direction": "out", "refund_id": f.refund.id})
            if inserted and not f.reject_reason:
                touched.add(f.refund.id)
        for refund_id in touched:
            await refunds.resettle(conn, refund_id, self.change)

    def _remember(self, signature: str, matched: bool) -> None:
        self.done[signature] = matched
        self.done.move_to_end(signature)
        while len(self.done) > 100_000:
            self.done.popitem(last=False)

    # ----- following transfers to the end ---------------------------------------------

    async def track(self) -> None:
        async with self.pool.acquire() as conn:
            open_txs = await db_transfers.open_txs(conn, CHAIN, 10 * STATUS_BATCH)
        for start in range(0, len(open_txs), STATUS_BATCH):
            batch = open_txs[start:start + STATUS_BATCH]
            found = await self.rpc.call("getSignatureStatuses", [
                [r["tx_id"] for r in batch], {"searchTransactionHistory": True}],
                parse=answers.statuses(len(batch)))
            for row, status in zip(batch, found, strict=True):
                await self._follow(row, status)
        await self.reconcile()

    async def _follow(self, row: asyncpg.Record, status: dict[str, Any] | None) -> None:
        age = (datetime.now(UTC) - row["seen_at"]).total_seconds()
        async with self.pool.acquire() as conn, conn.transaction():
            if status is None and age > self.config.revert_after_s:
                touched = await db_transfers.revert(conn, CHAIN, row["tx_id"])
            elif status is not None and status.get("confirmationStatus") == "finalized":
                touched = await db_transfers.advance(conn, CHAIN, row["tx_id"], "finalized")
            else:
                return
            for payment_id in set(touched):
                await resettle(conn, payment_id, self.change)
            # A refund's transfer that reached finality or was dropped: its refund follows.
            for refund_id in await db_refunds.refunds_of_tx(conn, CHAIN, row["tx_id"]):
                await refunds.resettle(conn, refund_id, self.change)

    async def measure_lag(self) -> None:
        if self.stream.last_slot:
            confirmed = await self.rpc.call("getSlot", [{"commitment": "confirmed"}],
                                            parse=answers.slot)
            self.lag = max(0, self.stream.last_slot - confirmed)
            SLOT_LAG.labels(CHAIN).set(self.lag)

    async def report_health(self) -> None:
        """One cheap read proves the RPC answers; the slot, the last measured lag and the
        recent RPC errors go with the stamp for operators (the dashboard's overview)."""
        slot = await self.rpc.call("getSlot", [{"commitment": self.config.commitment}],
                                   parse=answers.slot)
        await self.health.ok(slot, self.lag, self.rpc.errors_within(ERROR_WINDOW_S))

    async def reconcile(self) -> None:
        """Look the references of payments about to expire up directly (bounded per run)."""
        async with self.pool.acquire() as conn:
            rows = await watch.near_expiry(conn, CHAIN, self.config.reconcile_batch)
        for row in rows:
            found = await self.rpc.call("getSignaturesForAddress", [
                row["reference"], {"limit": 10, "commitment": "confirmed"}],
                parse=answers.signatures)
            for item in reversed(found):
                # It mentions an open payment's reference: what matched nothing before the
                # index knew that payment is worth one more look.
                await self.process(item["signature"], recheck_unmatched=True)

    async def _every(self, seconds: float, job: Any) -> None:
        while True:
            try:
                await job()
            except (RpcUnavailable, *DATABASE_ERRORS) as exc:  # type: ignore[misc]
                log.warning("%s failed; will retry", job.__name__, extra={"error": str(exc)})
            except RpcError as exc:
                log.error("%s got an RPC error", job.__name__, extra={"error": str(exc)})
            except Exception:
                # A bug in one periodic job must not restart every other part of the watcher
                # (the stream, the workers): logged loudly, and the job runs again.
                log.exception("%s failed unexpectedly; will retry", job.__name__)
            await asyncio.sleep(seconds)
