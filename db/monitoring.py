"""SQL for the health gauges Prometheus alerts on (paywatch/jobs.py refreshes them). Each is
one cheap read over a partial index, with the database's clock for ages."""

from __future__ import annotations

import asyncpg

HEALTH = """
SELECT
    (SELECT count(*) FROM webhook_deliveries
     WHERE status = 'pending' AND next_attempt_at <= now()) AS webhook_backlog,
    (SELECT count(DISTINCT endpoint_id) FROM webhook_deliveries
     WHERE status = 'pending' AND attempts >= 3) AS failing_endpoints,
    (SELECT COALESCE(extract(epoch FROM now() - min(detected_at)), 0)::float8
     FROM payments WHERE status = 'detected') AS oldest_detected_s
"""


async def health(conn: asyncpg.Connection | asyncpg.Pool) -> asyncpg.Record:
    row = await conn.fetchrow(HEALTH)
    assert row is not None  # an aggregate always answers one row
    return row


ENDPOINT_URLS = """
SELECT e.id, e.url, s.slug AS store_slug
FROM webhook_endpoints e JOIN stores s ON s.id = e.store_id
ORDER BY s.slug, e.created_at
"""


async def endpoint_urls(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every store's webhook endpoints (for `paywatch doctor`)."""
    return await conn.fetch(ENDPOINT_URLS)
