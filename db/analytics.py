"""SQL for the analytics summary: all aggregation happens in PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

# date_trunc's unit comes from a fixed set checked by the API model, passed as a parameter.
REVENUE_BY_PERIOD = """
SELECT date_trunc($4, confirmed_at AT TIME ZONE 'UTC') AS period, asset, decimals,
       currency, count(*) AS payments, sum(amount_received) AS received,
       sum(fiat_amount_due) AS fiat
FROM payments
WHERE store_id = $1 AND status = 'confirmed' AND confirmed_at >= $2 AND confirmed_at < $3
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 4
"""

# What was given back: refunds confirmed in the period, by when they were confirmed (as revenue
# is by when payments were), valued at the rate each refund was made at.
REFUNDS_BY_PERIOD = """
SELECT date_trunc($4, confirmed_at AT TIME ZONE 'UTC') AS period, asset, decimals,
       currency, count(*) AS refunds, sum(amount) AS amount, sum(fiat_amount) AS fiat
FROM refunds
WHERE store_id = $1 AND status = 'confirmed' AND confirmed_at >= $2 AND confirmed_at < $3
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 4
"""

STATUS_COUNTS = """
SELECT status, count(*) AS n FROM payments
WHERE store_id = $1 AND created_at >= $2 AND created_at < $3
GROUP BY status ORDER BY status
"""

MEDIAN_SECONDS_TO_CONFIRM = """
SELECT percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM confirmed_at - created_at)) AS median
FROM payments
WHERE store_id = $1 AND status = 'confirmed' AND exception IS DISTINCT FROM 'marked'
  AND created_at >= $2 AND created_at < $3
"""


async def revenue(conn: asyncpg.Connection, store_id: Any, start: datetime, end: datetime,
                  unit: str) -> list[asyncpg.Record]:
    return await conn.fetch(REVENUE_BY_PERIOD, store_id, start, end, unit)


async def refunds(conn: asyncpg.Connection, store_id: Any, start: datetime, end: datetime,
                  unit: str) -> list[asyncpg.Record]:
    return await conn.fetch(REFUNDS_BY_PERIOD, store_id, start, end, unit)


async def status_counts(conn: asyncpg.Connection, store_id: Any, start: datetime,
                        end: datetime) -> dict[str, int]:
    return {r["status"]: r["n"] for r in await conn.fetch(STATUS_COUNTS, store_id, start, end)}


async def median_seconds_to_confirm(conn: asyncpg.Connection, store_id: Any, start: datetime,
                                    end: datetime) -> float | None:
    value = await conn.fetchval(MEDIAN_SECONDS_TO_CONFIRM, store_id, start, end)
    return None if value is None else float(value)
