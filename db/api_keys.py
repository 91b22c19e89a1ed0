"""SQL for API keys. Only hashes are stored; lookups go by hash."""

from __future__ import annotations

from typing import Any

import asyncpg

INSERT_KEY = """
INSERT INTO api_keys (store_id, name, prefix, key_hash, scopes)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, store_id, name, prefix, scopes, created_at
"""

# An active key: not revoked, not expired. Its store comes along so auth needs one round trip.
SELECT_ACTIVE_KEY_BY_HASH = """
SELECT k.id, k.store_id, k.scopes, k.name, k.expires_at, s.slug AS store_slug
FROM api_keys k LEFT JOIN stores s ON s.id = k.store_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
"""

# last_used_at, to the minute: a busy key is not rewritten at every use. The API's key cache
# writes it for many keys at once (api/auth.py), a dashboard sign-in for one.
TOUCH_KEYS = """
UPDATE api_keys SET last_used_at = now()
WHERE id = ANY($1::uuid[])
  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
"""

# Guarded: revoking twice changes nothing and reports nothing. $2: only a key of that store
# (NULL: any key, the operator's CLI).
REVOKE_KEY = """
UPDATE api_keys SET revoked_at = now()
WHERE (id::text = $1 OR prefix = $1) AND revoked_at IS NULL
  AND ($2::uuid IS NULL OR store_id = $2)
RETURNING id, prefix, store_id
"""

SELECT_KEYS = """
SELECT k.id, k.name, k.prefix, k.scopes, k.created_at, k.last_used_at, k.revoked_at,
       s.slug AS store_slug
FROM api_keys k LEFT JOIN stores s ON s.id = k.store_id
WHERE $1::uuid IS NULL OR k.store_id = $1
ORDER BY k.created_at
"""


# One key of one store (another store's key is "missing"), whatever its state.
SELECT_STORE_KEY = """
SELECT id, store_id, name, prefix, scopes, created_at, last_used_at, revoked_at
FROM api_keys WHERE id = $1 AND store_id = $2
"""


async def insert_key(conn: asyncpg.Connection, store_id: Any, name: str, prefix: str,
                     key_hash: bytes, scopes: list[str]) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_KEY, store_id, name, prefix, key_hash, scopes)


async def active_key_by_hash(conn: asyncpg.Connection, key_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_ACTIVE_KEY_BY_HASH, key_hash)


async def touch_key(conn: asyncpg.Connection, key_id: Any) -> None:
    await touch_keys(conn, [key_id])


async def touch_keys(conn: asyncpg.Connection, key_ids: list[Any]) -> None:
    await conn.execute(TOUCH_KEYS, key_ids)


async def revoke_key(conn: asyncpg.Connection, id_or_prefix: str,
                     store_id: Any | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(REVOKE_KEY, id_or_prefix, store_id)


async def store_key(conn: asyncpg.Connection, key_id: Any,
                    store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_STORE_KEY, key_id, store_id)


async def list_keys(conn: asyncpg.Connection, store_id: Any | None) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_KEYS, store_id)
