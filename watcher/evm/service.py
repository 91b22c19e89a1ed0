"""The EVM watcher for one chain: follow the canonical chain block by block, record transfers to
watched addresses, confirm them at depth, and revert them when a reorg orphans their block.

The database holds the recent chain (`evm_blocks`); its tip is the cursor. Each round:
1. read the node's head; if the block we hold at that height differs, walk back to the common
   ancestor and revert everything above it (the payments step back);
2. fetch the blocks above our tip in chunks (eth_getBlockByNumber with transactions, one
   eth_getLogs per chunk for the configured tokens, and, when the chain opts in, a call trace of
   each block with transactions for the native coin contracts send by internal call), check that
   each block's parent is the one before it, match, and record blocks, transfers and settlements
   in one transaction per chunk;
3. promote transfers that reached the depth (or the safe/finalized tag) and settle again.
Every write is idempotent (transfers are unique per (chain, tx, index), states are guarded), so
a crash at any point is repaired by the next round. Rounds run on every new head (WebSocket)
and at least every `poll_seconds`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import aiohttp
import asyncpg

from db import evm as db_evm
from db import refunds as db_refunds
from db import transfers as db_transfers
from db.pool import DATABASE_ERRORS
from paywatch.core.evm import TRANSFER_TOPIC, EvmChain
from paywatch.core.metrics import (
    EVM_BLOCKS,
    EVM_HEAD_LAG,
    EVM_REORG_DEPTH,
    EVM_REORGS,
    EVM_TRACING,
)
from paywatch.core.states import WATCHED_PAYMENT
from paywatch.services import refunds, transfers
from paywatch.services.payments import Change, resettle
from watcher.evm.chain import (
    Block,
    Header,
    Seen,
    parse_block,
    parse_header,
    parse_logs,
    parse_traces,
    receipt_ok,
)
from watcher.evm.heads import HeadStream
from watcher.evm.matcher import Finding, match, match_refund
from watcher.health import HealthStamp
from watcher.rpc import ERROR_WINDOW_S, RpcError, RpcPool, RpcUnavailable

log = logging.getLogger("paywatch.watcher.evm")
MAX_REMOVED = 10_000
# Traces by block hash, not number: the trace is then of the very block we read, even if the
# chain moved in between (a node that no longer has it answers an error; the round retries).
TRACE_METHOD = "debug_traceBlockByHash"
TRACER = {"tracer": "callTracer"}
METHOD_NOT_FOUND = -32601


class ChainMoved(Exception):
    """The node's chain changed while a chunk was being read: read it again."""


class EvmWatcher:
    def __init__(self, pool: asyncpg.Pool, session: aiohttp.ClientSession,
                 chain: EvmChain, public_url: str | None = None) -> None:
        self.pool, self.chain, self.name = pool, chain, chain.name
        self.actor = f"watcher:{chain.name}"
        self.change = Change(self.actor, public_url)  # how its payment events link to checkout
        self.rpc = RpcPool(chain.rpc_urls, session)
        self.health = HealthStamp(pool, chain.name)
        self.wake = asyncio.Event()
        self.removed: list[Seen] = []
        self.tracing = chain.trace_internal  # off for good once the node refuses the method
        if chain.trace_internal:
            EVM_TRACING.labels(chain.name).set(1)
        self.stream = HeadStream(chain.name, chain.ws_urls, session,
                                 [t.contract for t in chain.tokens], self.wake.set,
                                 self._on_removed) if chain.ws_urls else None

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            if self.stream is not None:
                tg.create_task(self.stream.run(), name=f"{self.name}-heads")
            tg.create_task(self._loop(), name=f"{self.name}-follow")

    def _on_removed(self, seen: Seen) -> None:
        if len(self.removed) >= MAX_REMOVED:
            # A flood of removals means a deep reorg: the parent-hash walk back reverts those
            # blocks anyway, so dropping the notices here loses nothing.
            log.warning("too many removed logs queued; leaving them to the reorg walk",
                        extra={"chain": self.name})
            return
        self.removed.append(seen)
        self.wake.set()

    async def _loop(self) -> None:
        failures = 0
        while True:
            try:
                await self.round()
                failures = 0
            except (RpcUnavailable, RpcError, ChainMoved, *DATABASE_ERRORS) as exc:  # type: ignore[misc]
                failures += 1
                log.warning("round failed; retrying", extra={
                    "chain": self.name, "error": f"{type(exc).__name__}: {exc}"})
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
            except Exception:  # a bug or an answer nobody foresaw: never stop following
                failures += 1
                log.exception("round failed unexpectedly; retrying", extra={"chain": self.name})
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancel that
                # meets a wake-up, and the watcher would outlive its shutdown
                async with asyncio.timeout(self.chain.poll_seconds):
                    await self.wake.wait()

    # ----- one round ----------------------------------------------------------------------

    async def round(self) -> None:
        await self._apply_removed()
        head = await self._header("latest")
        async with self.pool.acquire() as conn:
            tip = await db_evm.tip(conn, self.name)
        # The chain answers: healthy, even while a long backfill keeps this round busy.
        lag = max(0, head.number - tip["number"]) if tip is not None else None
        await self.health.ok(head.number, lag, self.rpc.errors_within(ERROR_WINDOW_S))
        depth = await self._depth_marks(head)
        if tip is None:
            start = max(0, head.number - self.chain.start_depth)
            log.info("starting to follow", extra={"chain": self.name, "block": start})
            await self._forward(start, head, depth, first=True)
        elif tip["number"] >= head.number:
            held = await self._held_hash(head.number)
            if held is not None and held != head.hash:
                await self._reorg(head.number)
                return  # the next round reads the new branch
        elif not await self._forward(tip["number"] + 1, head, depth, first=False):
            return
        await self._promote(depth)
        EVM_HEAD_LAG.labels(self.name).set(0)

    async def _held_hash(self, number: int) -> str | None:
        async with self.pool.acquire() as conn:
            return await db_evm.block_hash(conn, self.name, number)

    async def _header(self, tag: str) -> Header:
        return await self.rpc.call("eth_getBlockByNumber", [tag, False], parse=parse_header)

    async def _tag_number(self, tag: str) -> int | None:
        """The node's safe/finalized block, or None when it does not know the tag."""
        try:
            header = await self.rpc.call("eth_getBlockByNumber", [tag, False],
                                         parse=_optional_header)
        except RpcError:
            return None
        return header.number if header is not None else None

    # ----- forward: new blocks ------------------------------------------------------------

    async def _forward(self, start: int, head: Header, depth: tuple[int, int | None],
                       first: bool) -> bool:
        """Process blocks start..head; False when a reorg was found (and rewound) instead."""
        total = head.number - start + 1
        began, done = time.perf_counter(), 0
        for low in range(start, head.number + 1, self.chain.backfill_chunk):
            high = min(head.number, low + self.chain.backfill_chunk - 1)
            blocks = await self._blocks(low, high)
            if not await self._links(blocks[0], first and low == start):
                await self._reorg(low - 1)
                return False
            logs, internal = await asyncio.gather(self._logs(low, high, blocks),
                                                  self._internal(blocks))
            await self._record_chunk(blocks, logs + internal, depth)
            done += len(blocks)
            EVM_HEAD_LAG.labels(self.name).set(head.number - high)
            if total > self.chain.backfill_chunk:
                elapsed = time.perf_counter() - began
                log.info("backfill progress", extra={
                    "chain": self.name, "done": done, "total": total, "block": high,
                    "blocks_per_s": round(done / elapsed, 1) if elapsed else None})
        return True

    async def _blocks(self, low: int, high: int) -> list[Block]:
        blocks = await asyncio.gather(*(
            self.rpc.call("eth_getBlockByNumber", [hex(n), True], parse=parse_block)
            for n in range(low, high + 1)))
        for before, after in itertools.pairwise(blocks):
            if after.header.parent_hash != before.header.hash:
                raise ChainMoved(f"block {after.header.number} does not follow the one before")
        return list(blocks)

    async def _links(self, first: Block, is_start: bool) -> bool:
        """Does the chunk's first block sit on the block we hold below it?"""
        if is_start:
            return True
        held = await self._held_hash(first.header.number - 1)
        return held is None or held == first.header.parent_hash

    async def _logs(self, low: int, high: int, blocks: list[Block]) -> list[Seen]:
        if not self.chain.tokens:
            return []
        seen = await self.rpc.call("eth_getLogs", [{
            "fromBlock": hex(low), "toBlock": hex(high),
            "address": [t.contract for t in self.chain.tokens],
            "topics": [TRANSFER_TOPIC]}], parse=parse_logs)
        hashes = {b.header.number: b.header.hash for b in blocks}
        for s in seen:
            if hashes.get(s.block_number) != s.block_hash:
                raise ChainMoved(f"logs of block {s.block_number} belong to another branch")
        return [s for s in seen if not s.removed]

    async def _internal(self, blocks: list[Block]) -> list[Seen]:
        """Native coin moved by internal calls, from one trace per block that has transactions
        (the RpcPool bounds how many run at once)."""
        if not self.tracing:
            return []
        try:
            traced = await asyncio.gather(*(
                self.rpc.call(TRACE_METHOD, [b.header.hash, TRACER],
                              parse=partial(parse_traces, block=b))
                for b in blocks if b.tx_ids))
        except RpcError as exc:
            if exc.code != METHOD_NOT_FOUND:
                raise
            self._stop_tracing(exc)
            return []
        return [s for seen in traced for s in seen]

    def _stop_tracing(self, exc: RpcError) -> None:
        """The node has no debug namespace: keep following the chain (top-level transfers and
        tokens) rather than stall it, and say so once, loudly, and in /metrics."""
        self.tracing = False
        EVM_TRACING.labels(self.name).set(0)
        log.error("the node does not serve %s: internal transfers (ETH sent by contracts) are "
                  "NOT seen on this chain until the watcher restarts with a node that does",
                  TRACE_METHOD, extra={"chain": self.name, "error": str(exc)})

    async def _record_chunk(self, blocks: list[Block], logs: list[Seen],
                            depth: tuple[int, int | None]) -> None:
        seen = [s for b in blocks for s in b.native] + logs
        findings = await self._match(seen)
        findings = await self._successful(findings)
        by_number = {b.header.number: b.header for b in blocks}
        async with self.pool.acquire() as conn, conn.transaction():
            for b in blocks:
                h = b.header
                await db_evm.save_block(conn, self.name, h.number, h.hash, h.parent_hash, h.time)
            touched, sent = set(), set()
            for f in findings:
                if await self._insert(conn, f, by_number[f.seen.block_number], depth):
                    if f.refund_id is not None:
                        sent.add(f.refund_id)
                    touched.add(f.payment_id)
            for payment_id in touched - {None}:
                await resettle(conn, payment_id, self.change)
            for refund_id in sent:
                await refunds.resettle(conn, refund_id, self.change)
            await db_evm.prune(conn, self.name, blocks[-1].header.number - self.chain.keep_blocks)
        EVM_BLOCKS.labels(self.name, "forward").inc(len(blocks))

    async def _match(self, seen: Sequence[Seen]) -> list[Finding]:
        if not seen:
            return []
        addresses = sorted({s.to.lower() for s in seen})
        async with self.pool.acquire() as conn:
            candidates = await db_evm.candidates(conn, self.name, addresses,
                                                 watched_statuses=WATCHED_PAYMENT)
            owners = await db_evm.shared_owners(conn, self.name, addresses)
            pending = list(await db_refunds.pending_to(conn, self.name, addresses))
        by_address: dict[str, list[Any]] = {}
        for row in candidates:
            by_address.setdefault(row["address"], []).append(row)
        found = []
        for s in seen:
            address = s.to.lower()
            f = None
            if address in by_address or address in owners:
                f = match(self.chain, s, by_address.get(address, []), owners.get(address))
            if f is None and pending:  # money leaving to a refund's destination
                f = match_refund(self.chain, s, pending)
            if f is not None:
                found.append(f)
        return found

    async def _successful(self, findings: list[Finding]) -> list[Finding]:
        """A reverted transaction still shows its value in the block: ask for its receipt.
        An internal transfer needs none: its trace said whether its frames succeeded."""
        native = [f for f in findings if f.seen.contract is None and not f.seen.internal]
        if not native:
            return findings
        oks = await asyncio.gather(*(self.rpc.call("eth_getTransactionReceipt", [f.seen.tx_id],
                                                   parse=receipt_ok) for f in native))
        failed = {f.seen.tx_id for f, ok in zip(native, oks, strict=True) if not ok}
        return [f for f in findings if f.seen.contract is not None or f.seen.internal
                or f.seen.tx_id not in failed]

    async def _insert(self, conn: asyncpg.Connection, f: Finding, header: Header,
                      depth: tuple[int, int | None]) -> bool:
        """True when the transfer is new to its payment (which then needs resettling)."""
        recorded = await transfers.record(conn, {
            "chain": self.name, "tx_id": f.seen.tx_id, "index": f.seen.index,
            "payment_id": f.payment_id, "store_id": f.store_id, "asset": f.asset,
            "mint": f.seen.contract, "sender": f.seen.sender, "recipient": f.seen.to,
            "amount": f.seen.amount, "slot": header.number, "block_hash": header.hash,
            "block_time": header.time, "status": _status(header.number, depth),
            "matched_by": f.matched_by, "unmatched_reason": f.unmatched_reason,
            "via_program": f.seen.internal,
            "direction": "out" if f.refund_id is not None else "in", "refund_id": f.refund_id})
        return recorded and (f.payment_id is not None or f.refund_id is not None)

    # ----- depth and finality -------------------------------------------------------------

    async def _depth_marks(self, head: Header) -> tuple[int, int | None]:
        """(highest block that counts as confirmed, highest finalized block or None)."""
        finalized = await self._tag_number("finalized")
        wanted = self.chain.confirmations
        if wanted == "finalized":
            return (finalized if finalized is not None else -1), finalized
        if wanted == "safe":
            safe = await self._tag_number("safe")
            return (safe if safe is not None else -1), finalized
        return head.number - wanted + 1, finalized

    async def _promote(self, depth: tuple[int, int | None]) -> None:
        confirmed, finalized = depth
        async with self.pool.acquire() as conn, conn.transaction():
            touched = await db_transfers.promote(conn, self.name, confirmed, "confirmed")
            if finalized is not None:
                touched += await db_transfers.promote(conn, self.name, finalized, "finalized")
            for payment_id in set(touched):
                await resettle(conn, payment_id, self.change)
            await self._resettle_refunds(conn)

    async def _resettle_refunds(self, conn: asyncpg.Connection) -> None:
        """Refunds whose outgoing transfers moved (deep enough now, or reverted by a reorg or a
        removed log): transfers move by block here, so ask which refunds may have changed."""
        for refund_id in await db_refunds.refunds_to_resettle(conn, self.name):
            await refunds.resettle(conn, refund_id, self.change)

    # ----- reorgs -------------------------------------------------------------------------

    async def _reorg(self, number: int) -> None:
        """Our block at `number` (or the parent of the block after it) is no longer canonical:
        find the highest block we hold that the node still has, and drop everything above."""
        ancestor = number
        while ancestor >= 0:
            held = await self._held_hash(ancestor)
            if held is None:
                log.error("reorg deeper than the blocks kept; following the new branch",
                          extra={"chain": self.name, "block": ancestor})
                break
            if (await self._header(hex(ancestor))).hash == held:
                break
            ancestor -= 1
        async with self.pool.acquire() as conn, conn.transaction():
            tip = await db_evm.tip(conn, self.name)
            touched = await db_evm.rewind(conn, self.name, ancestor)
            for payment_id in set(touched):
                await resettle(conn, payment_id, self.change)
            await self._resettle_refunds(conn)
        orphaned = (tip["number"] - ancestor) if tip else 0
        EVM_REORGS.labels(self.name).inc()
        EVM_REORG_DEPTH.labels(self.name).observe(orphaned)
        log.warning("reorg", extra={"chain": self.name, "ancestor": ancestor,
                                    "orphaned_blocks": orphaned,
                                    "reverted_payments": len(set(touched))})

    async def _apply_removed(self) -> None:
        removed, self.removed = self.removed, []
        if not removed:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            touched = []
            for s in removed:
                touched += await db_transfers.revert_one(conn, self.name, s.tx_id, s.index,
                                                         s.block_hash)
            for payment_id in set(touched):
                await resettle(conn, payment_id, self.change)
            await self._resettle_refunds(conn)



def _optional_header(raw: object) -> Header | None:
    return None if raw is None else parse_header(raw)


def _status(number: int, depth: tuple[int, int | None]) -> str:
    confirmed, finalized = depth
    if finalized is not None and number <= finalized:
        return "finalized"
    return "confirmed" if number <= confirmed else "processed"

