"""SQL for Idempotency-Key.

The claim is an INSERT inside the transaction that does the work. A second request with the
same key blocks on the unique index until the first commits (then it reads and replays the
stored response) or rolls back (then it claims the key itself). So concurrent duplicates
create one object, and a failed request leaves nothing behind."""

from __future__ import annotations

from typing import Any

import asyncpg

# Expired rows are taken over, so a key can be reused after its 24 hours.
CLAIM = """
INSERT INTO idempotency_keys (scope, key, method, path, request_hash)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (scope, key) DO UPDATE
SET method = EXCLUDED.method, path = EXCLUDED.path, request_hash = EXCLUDED.request_hash,
    response_status = NULL, response_body = NULL, created_at = now(),
    expires_at = now() + interval '24 hours'
WHERE idempotency_keys.expires_at < now()
RETURNING true
"""

SELECT = """
SELECT method, path, request_hash, response_status, response_body
FROM idempotency_keys WHERE scope = $1 AND key = $2
"""

SAVE = """
UPDATE idempotency_keys SET response_status = $3, response_body = $4
WHERE scope = $1 AND key = $2
"""

DELETE_EXPIRED = """
DELETE FROM idempotency_keys WHERE ctid IN (
    SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT $1)
"""


async def claim(conn: asyncpg.Connection, scope: str, key: str, method: str, path: str,
                request_hash: bytes) -> bool:
    return bool(await conn.fetchval(CLAIM, scope, key, method, path, request_hash))


async def stored(conn: asyncpg.Connection, scope: str, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT, scope, key)


async def save(conn: asyncpg.Connection, scope: str, key: str, status: int, body: Any) -> None:
    await conn.execute(SAVE, scope, key, status, body)


async def delete_expired(conn: asyncpg.Connection, batch: int = 10_000) -> int:
    result = await conn.execute(DELETE_EXPIRED, batch)
    return int(result.split()[-1])
