"""SQL for scheduled sweeps. Each batch is one statement: rows are claimed with
FOR UPDATE SKIP LOCKED, so two processes sweeping at once never take the same row, and the
status guard makes a second sweep of the same row a no-op."""

from __future__ import annotations

import asyncpg

# Pending payments past their quote's lifetime become expired, and each gets its
# payment.expired event in the same statement (a data-modifying CTE).
EXPIRE_PAYMENTS = """
WITH due AS (
    SELECT id FROM payments
    WHERE status = 'pending' AND expires_at <= now()
    ORDER BY expires_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE payments p SET status = 'expired', closed_at = now(), updated_at = now()
    FROM due WHERE p.id = due.id AND p.status = 'pending'
    RETURNING p.id, p.store_id, p.order_id, p.expires_at, p.amount_due
)
INSERT INTO events (store_id, type, payment_id, order_id, data)
SELECT store_id, 'payment.expired', id, order_id,
       jsonb_build_object('id', id, 'status', 'expired', 'expires_at', expires_at,
                          'amount_due', amount_due::text)
FROM expired
RETURNING payment_id
"""

# Detected payments whose money never reached the required commitment in time.
INVALIDATE_PAYMENTS = """
WITH due AS (
    SELECT id FROM payments
    WHERE status = 'detected' AND confirm_deadline_at <= now()
    ORDER BY confirm_deadline_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), invalid AS (
    UPDATE payments p SET status = 'invalid', closed_at = now(), updated_at = now()
    FROM due WHERE p.id = due.id AND p.status = 'detected'
    RETURNING p.id, p.store_id, p.order_id
)
INSERT INTO events (store_id, type, payment_id, order_id, data)
SELECT store_id, 'payment.invalid', id, order_id,
       jsonb_build_object('id', id, 'status', 'invalid')
FROM invalid
RETURNING payment_id
"""


async def expire_batch(conn: asyncpg.Connection, limit: int) -> int:
    return len(await conn.fetch(EXPIRE_PAYMENTS, limit))


async def invalidate_batch(conn: asyncpg.Connection, limit: int) -> int:
    return len(await conn.fetch(INVALIDATE_PAYMENTS, limit))


# Events older than the retention whose deliveries are all settled (delivered or failed);
# their deliveries go with them (ON DELETE CASCADE). Batched like the other sweeps.
PURGE_EVENTS = """
DELETE FROM events WHERE id IN (
    SELECT ev.id FROM events ev
    WHERE ev.created_at < now() - make_interval(days => $1::int)
      AND ev.dispatched_at IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                      WHERE d.event_id = ev.id AND d.status = 'pending')
    ORDER BY ev.seq LIMIT $2
    FOR UPDATE SKIP LOCKED)
"""


async def purge_events_batch(conn: asyncpg.Connection, days: int, limit: int) -> int:
    return int((await conn.execute(PURGE_EVENTS, days, limit)).split()[-1])
