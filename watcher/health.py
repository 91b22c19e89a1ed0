"""The leading watcher of a chain tells every process (readiness lives in /readyz, maybe in
another process) that it can read its chain: a row per chain, stamped with the database's clock
after a successful read, at most every `every_s` so a busy watcher costs one write per period."""

from __future__ import annotations

import asyncio

import asyncpg

from db import chain_health

STAMP_EVERY_S = 5.0  # well inside /readyz's staleness threshold (60 s)


class HealthStamp:
    def __init__(self, pool: asyncpg.Pool, chain: str, every_s: float = STAMP_EVERY_S) -> None:
        self.pool, self.chain, self.every_s = pool, chain, every_s
        self._last: float | None = None

    async def ok(self, height: int, lag: int | None = None, rpc_errors: int = 0) -> None:
        """The chain just answered with `height` (slot or block number); `lag` is how far
        behind the watcher is (None: not measured yet), `rpc_errors` its recent failed calls."""
        now = asyncio.get_running_loop().time()
        if self._last is not None and now - self._last < self.every_s:
            return
        await chain_health.record(self.pool, self.chain, height, lag, rpc_errors)
        self._last = now
