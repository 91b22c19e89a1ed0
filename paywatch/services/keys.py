"""Creating API keys: the one path the CLI, the demo and the test fixtures take."""

from __future__ import annotations

from typing import Any

import asyncpg

from db import api_keys, audit
from paywatch.core.apikeys import display_prefix, generate_key, hash_key


async def create_key(conn: asyncpg.Connection, store_id: Any, name: str, scopes: list[str],
                     actor: str) -> tuple[str, asyncpg.Record]:
    """A new key (the secret, shown once, and its row), audited in the same transaction; only
    its hash and display prefix are stored."""
    key = generate_key()
    async with conn.transaction():
        row = await api_keys.insert_key(conn, store_id, name, display_prefix(key),
                                        hash_key(key), scopes)
        await audit.record(conn, store_id=store_id, actor=actor, action="api_key.create",
                           object_type="api_key", object_id=row["id"],
                           after={"prefix": row["prefix"], "scopes": scopes})
    return key, row
