"""SQL for dashboard sessions (migration 0009). Every check of a session's life uses the
database's clock: sign-in, each page view and the sweep agree on what "now" is."""

from __future__ import annotations

from typing import Any

import asyncpg

INSERT_SESSION = """
INSERT INTO dashboard_sessions (token_hash, key_id, store_id, csrf_token, client, expires_at)
VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
RETURNING expires_at
"""

# One statement reads and keeps a session alive: live (not ended, not past its absolute expiry,
# not idle longer than $2 seconds) and its key still active. The key's store wins over the
# session's: a store key never looks at another store, whatever the row says.
TOUCH_SESSION = """
WITH live AS (
    UPDATE dashboard_sessions SET last_seen_at = now()
    WHERE token_hash = $1 AND ended_at IS NULL AND expires_at > now()
      AND last_seen_at > now() - make_interval(secs => $2)
    RETURNING key_id, store_id, csrf_token, created_at, expires_at
)
SELECT l.key_id, l.csrf_token, l.created_at, l.expires_at, k.scopes, k.name AS key_name,
       k.prefix AS key_prefix, k.store_id IS NULL AS operator,
       s.id AS store_id, s.slug AS store_slug, s.name AS store_name
FROM live l
JOIN api_keys k ON k.id = l.key_id AND k.revoked_at IS NULL
     AND (k.expires_at IS NULL OR k.expires_at > now())
LEFT JOIN stores s ON s.id = COALESCE(k.store_id, l.store_id)
"""

END_SESSION = """
UPDATE dashboard_sessions SET ended_at = now()
WHERE token_hash = $1 AND ended_at IS NULL
RETURNING key_id
"""

# Only an operator's session switches stores (a store key's row keeps its own store).
SWITCH_STORE = """
UPDATE dashboard_sessions d SET store_id = $2
FROM api_keys k
WHERE d.token_hash = $1 AND d.ended_at IS NULL AND k.id = d.key_id AND k.store_id IS NULL
RETURNING d.store_id
"""

DELETE_OVER = """
DELETE FROM dashboard_sessions WHERE ctid IN (
    SELECT ctid FROM dashboard_sessions
    WHERE expires_at < now() - interval '7 days' OR ended_at < now() - interval '7 days'
    LIMIT $1)
"""


async def insert_session(conn: asyncpg.Connection, token_hash: bytes, key_id: Any,
                         store_id: Any, csrf_token: str, client: str,
                         lifetime_s: float) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_SESSION, token_hash, key_id, store_id, csrf_token,
                               client[:200], float(lifetime_s))


async def touch_session(conn: asyncpg.Connection, token_hash: bytes,
                        idle_s: float) -> asyncpg.Record | None:
    return await conn.fetchrow(TOUCH_SESSION, token_hash, float(idle_s))


async def end_session(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(END_SESSION, token_hash)


async def switch_store(conn: asyncpg.Connection, token_hash: bytes,
                       store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SWITCH_STORE, token_hash, store_id)


async def delete_over(conn: asyncpg.Connection, limit: int) -> int:
    """Sessions over for a week go (a batch at a time); the audit log keeps the sign-ins."""
    status = await conn.execute(DELETE_OVER, limit)
    return int(status.split()[-1])
