"""SQL for webhook endpoints and deliveries. Times come from the caller's clock (tests drive
time without sleeping). Deliveries are leased, not locked across HTTP calls: a claim moves
next_attempt_at a lease ahead, so a crashed dispatcher's claims come due again by themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from db import events

INSERT_ENDPOINT = """
INSERT INTO webhook_endpoints (store_id, url, secret, description, event_types)
VALUES ($1, $2, $3, $4, $5)
RETURNING *
"""

SELECT_ENDPOINTS = """
SELECT * FROM webhook_endpoints WHERE store_id = $1 ORDER BY created_at
"""

DELETE_ENDPOINT = """
DELETE FROM webhook_endpoints WHERE id = $1 AND store_id = $2 RETURNING id
"""

# New events fan out into one delivery per enabled endpoint that wants their type. created_at
# starts the three-day retry window, so it is the caller's clock, never the column's now().
FAN_OUT = """
WITH ev AS (
    SELECT id, store_id, type FROM events WHERE dispatched_at IS NULL
    ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED
), created AS (
    INSERT INTO webhook_deliveries (event_id, endpoint_id, next_attempt_at, created_at)
    SELECT ev.id, e.id, $2, $2 FROM ev JOIN webhook_endpoints e
      ON e.store_id = ev.store_id AND e.enabled
     AND ('*' = ANY (e.event_types) OR ev.type = ANY (e.event_types))
    ON CONFLICT (event_id, endpoint_id) DO NOTHING
    RETURNING 1
)
UPDATE events SET dispatched_at = $2 FROM ev WHERE events.id = ev.id
RETURNING events.id
"""

# Per endpoint, its oldest due deliveries up to its free budget ($6 minus what this process has
# in flight there, given as $4/$5): an endpoint with a backlog, or one that hangs, cannot fill
# the batch and hold back other stores. Then the oldest of those, locked (re-checked after the
# lock: another process may have just claimed them).
# Cost: per endpoint an index range read of its budget (webhook_deliveries_endpoint_due_idx
# is in this order, migration 0013), and the candidates are materialized, so however long the
# backlog the lock step looks at those few rows. (The IN-subquery form was planned as a
# nested loop that re-ran every endpoint's candidates for each due row: O(backlog^2), 100-300 ms
# a claim with 400 due, and one receiver got 30 deliveries/s.)
CLAIM_DUE = """
WITH busy AS (
    SELECT * FROM unnest($4::uuid[], $5::int[]) AS b(endpoint_id, in_flight)
), candidates AS MATERIALIZED (
    SELECT c.id, c.next_attempt_at FROM webhook_endpoints e
    LEFT JOIN busy b ON b.endpoint_id = e.id
    CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
        WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= $1
        ORDER BY d.next_attempt_at, d.id
        LIMIT greatest($6::int - coalesce(b.in_flight, 0), 0)
    ) c
), due AS (
    SELECT d.id FROM candidates c JOIN webhook_deliveries d ON d.id = c.id
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1
    ORDER BY c.next_attempt_at, c.id LIMIT $2 FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = $1 + $3::interval
FROM due, webhook_endpoints e, events ev
WHERE d.id = due.id AND e.id = d.endpoint_id AND ev.id = d.event_id
RETURNING d.id, d.attempts, d.created_at, e.id AS endpoint_id, e.url, e.secret,
          ev.id AS event_id, ev.type, ev.data, ev.created_at AS event_created_at,
          ev.store_id, ev.payment_id, ev.order_id
"""

# The endpoint's row is written only when its failing_since changes: a healthy endpoint's
# deliveries then never queue behind each other on its row lock (they did, one commit after
# another: 32 deliveries/s to one receiver, bench/e2e_latency.py at 100 payments/s).
DELIVERED = """
WITH d AS (
    UPDATE webhook_deliveries SET status = 'delivered', delivered_at = $2,
        last_status_code = $3, last_error = NULL
    WHERE id = $1 AND status = 'pending'
    RETURNING endpoint_id
)
UPDATE webhook_endpoints SET failing_since = NULL FROM d
WHERE webhook_endpoints.id = d.endpoint_id AND webhook_endpoints.failing_since IS NOT NULL
"""

FAILED_ATTEMPT = """
WITH d AS (
    UPDATE webhook_deliveries SET
        status = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
        next_attempt_at = COALESCE($3, next_attempt_at), last_status_code = $4, last_error = $5
    WHERE id = $1 AND status = 'pending'
    RETURNING endpoint_id
)
UPDATE webhook_endpoints SET failing_since = $2
FROM d WHERE webhook_endpoints.id = d.endpoint_id AND webhook_endpoints.failing_since IS NULL
"""

DISABLE_FAILING = """
UPDATE webhook_endpoints SET enabled = false, updated_at = $1::timestamptz,
    disabled_reason = 'every delivery failed for ' || $2::int || ' days'
WHERE enabled AND failing_since <= $1::timestamptz - make_interval(days => $2::int)
RETURNING id, store_id, url
"""

SELECT_EVENTS = """
SELECT * FROM events
WHERE store_id = $1 AND ($2::text IS NULL OR type = $2)
  AND ($3::uuid IS NULL OR payment_id = $3) AND ($4::bigint IS NULL OR seq < $4)
ORDER BY seq DESC LIMIT $5
"""

SELECT_EVENT = "SELECT * FROM events WHERE id = $1 AND store_id = $2"

SELECT_EVENT_DELIVERIES = """
SELECT d.*, e.url FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
WHERE d.event_id = $1 ORDER BY d.id
"""

# Redelivery: every endpoint that wants the event gets a fresh pending delivery, due now, with
# three days of retries of its own (created_at restarts the window: an old delivery would
# otherwise give up after its first new attempt).
REDELIVER = """
INSERT INTO webhook_deliveries (event_id, endpoint_id, next_attempt_at, created_at)
SELECT ev.id, e.id, $3, $3 FROM events ev JOIN webhook_endpoints e
  ON e.store_id = ev.store_id AND e.enabled
 AND ('*' = ANY (e.event_types) OR ev.type = ANY (e.event_types))
WHERE ev.id = $1 AND ev.store_id = $2
ON CONFLICT (event_id, endpoint_id) DO UPDATE
SET status = 'pending', next_attempt_at = $3, created_at = $3, attempts = 0, last_error = NULL,
    last_status_code = NULL
RETURNING id
"""

# Each endpoint with its health: the outcome of its latest finished attempt and how many of
# its deliveries are failing now (given up, or retrying after a failed attempt).
SELECT_ENDPOINT_HEALTH = """
SELECT e.*, last.status AS last_status, last.last_status_code, last.last_error,
       last.delivered_at AS last_delivered_at, fail.failing
FROM webhook_endpoints e
LEFT JOIN LATERAL (
    SELECT d.status, d.last_status_code, d.last_error, d.delivered_at
    FROM webhook_deliveries d
    WHERE d.endpoint_id = e.id AND (d.status <> 'pending' OR d.last_error IS NOT NULL
                                    OR d.last_status_code IS NOT NULL)
    ORDER BY d.id DESC LIMIT 1) last ON true
CROSS JOIN LATERAL (
    SELECT count(*) AS failing FROM webhook_deliveries d
    WHERE d.endpoint_id = e.id AND (d.status = 'failed' OR (d.status = 'pending'
          AND (d.last_error IS NOT NULL OR d.last_status_code IS NOT NULL)))) fail
WHERE e.store_id = $1
ORDER BY e.created_at, e.id
"""

# The store's failing deliveries (as above), newest first, keyset-paged by delivery id ($2: the
# last id of the previous page).
SELECT_FAILING_DELIVERIES = """
SELECT d.id, d.status, d.attempts, d.last_status_code, d.last_error, d.next_attempt_at,
       d.created_at, e.id AS endpoint_id, e.url, ev.id AS event_id, ev.type AS event_type,
       ev.created_at AS event_created_at, ev.payment_id
FROM webhook_deliveries d
JOIN webhook_endpoints e ON e.id = d.endpoint_id
JOIN events ev ON ev.id = d.event_id
WHERE e.store_id = $1 AND ($2::bigint IS NULL OR d.id < $2)
  AND (d.status = 'failed' OR (d.status = 'pending'
       AND (d.last_error IS NOT NULL OR d.last_status_code IS NOT NULL)))
ORDER BY d.id DESC LIMIT $3
"""


async def insert_endpoint(conn: asyncpg.Connection, store_id: Any, url: str, secret: str,
                          description: str | None, event_types: list[str]) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_ENDPOINT, store_id, url, secret, description, event_types)


async def endpoints(conn: asyncpg.Connection, store_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_ENDPOINTS, store_id)


async def delete_endpoint(conn: asyncpg.Connection, endpoint_id: Any, store_id: Any) -> bool:
    return await conn.fetchval(DELETE_ENDPOINT, endpoint_id, store_id) is not None


async def fan_out(conn: asyncpg.Connection, now: datetime, limit: int) -> int:
    return len(await conn.fetch(FAN_OUT, limit, now))


async def claim_due(conn: asyncpg.Connection, now: datetime, limit: int, lease: Any,
                    per_endpoint: int, busy_endpoints: list[Any],
                    busy_counts: list[int]) -> list[asyncpg.Record]:
    return await conn.fetch(CLAIM_DUE, now, limit, lease, busy_endpoints, busy_counts,
                            per_endpoint)


async def delivered(conn: asyncpg.Connection, delivery_id: int, now: datetime,
                    status_code: int) -> None:
    await conn.execute(DELIVERED, delivery_id, now, status_code)


async def failed_attempt(conn: asyncpg.Connection, delivery_id: int, now: datetime,
                         retry_at: datetime | None, status_code: int | None,
                         error: str) -> None:
    await conn.execute(FAILED_ATTEMPT, delivery_id, now, retry_at, status_code, error[:500])


async def disable_failing(conn: asyncpg.Connection, now: datetime,
                          days: int) -> list[asyncpg.Record]:
    return await conn.fetch(DISABLE_FAILING, now, days)


async def list_events(conn: asyncpg.Connection, store_id: Any, *, type_: str | None,
                      payment_id: Any, before_seq: int | None,
                      limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_EVENTS, store_id, type_, payment_id, before_seq, limit)


async def event(conn: asyncpg.Connection, event_id: Any, store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_EVENT, event_id, store_id)


async def event_deliveries(conn: asyncpg.Connection, event_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_EVENT_DELIVERIES, event_id)


async def redeliver(conn: asyncpg.Connection, event_id: Any, store_id: Any,
                    now: datetime) -> int:
    rows = await conn.fetch(REDELIVER, event_id, store_id, now)
    if rows:  # deliveries, not an event: wake the dispatchers as a new event would
        await events.announce(conn)
    return len(rows)


async def endpoints_with_health(conn: asyncpg.Connection, store_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_ENDPOINT_HEALTH, store_id)


async def failing_deliveries(conn: asyncpg.Connection, store_id: Any, *, before_id: int | None,
                             limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_FAILING_DELIVERIES, store_id, before_id, limit)
