"""Chain health: the leading watcher of each chain stamps a row, /readyz reads them. Both sides
use the database's clock (now()), so API and watcher hosts never compare two clocks."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

RECORD = """
INSERT INTO chain_health (chain, height, checked_at, lag, rpc_errors)
VALUES ($1, $2, now(), $3, $4)
ON CONFLICT (chain) DO UPDATE SET height = EXCLUDED.height, checked_at = EXCLUDED.checked_at,
    lag = EXCLUDED.lag, rpc_errors = EXCLUDED.rpc_errors
"""

# One statement, one clock: the age and the verdict both come from this query's now().
SELECT_HEALTH = """
SELECT chain, height, extract(epoch FROM now() - checked_at)::float8 AS age_s,
       now() - checked_at <= make_interval(secs => $2) AS healthy
FROM chain_health WHERE chain = ANY($1::text[])
"""


async def record(conn: asyncpg.Connection | asyncpg.Pool, chain: str, height: int,
                 lag: int | None = None, rpc_errors: int = 0) -> None:
    await conn.execute(RECORD, chain, height, lag, rpc_errors)


async def health_of(conn: asyncpg.Connection, chains: Sequence[str],
                    stale_after_s: float) -> dict[str, asyncpg.Record]:
    """The rows of `chains` that exist, by chain (a chain without a row never reported)."""
    rows = await conn.fetch(SELECT_HEALTH, list(chains), stale_after_s)
    return {row["chain"]: row for row in rows}
