"""SQL for the event-retention sweep (the payment sweeps change payment status, so they live in
db/payments.py). Each batch is one statement: rows are claimed with FOR UPDATE SKIP LOCKED, so
two processes sweeping at once never take the same row."""

from __future__ import annotations

import asyncpg

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
