"""Creating and revoking API keys: the one path the CLI, the dashboard, the demo and the test
fixtures take, each change audited in its own transaction."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import asyncpg

from db import api_keys, audit
from paywatch.core.apikeys import SCOPES, display_prefix, generate_key, hash_key


class AmbiguousKey(ValueError):
    """A prefix that names more than one active key: nothing was revoked."""

    def __init__(self, ref: str, count: int) -> None:
        super().__init__(f"{ref!r} matches {count} keys; use the key id")
        self.count = count


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


async def revoke_key(conn: asyncpg.Connection, ref: str, actor: str,
                     store_id: Any | None = None) -> asyncpg.Record | None:
    """Revoke the active key with id or prefix `ref` (of `store_id` only, when given), audited
    in the same transaction: its row (id, prefix, store_id), or None when no active key
    matched. Its API calls and dashboard sessions stop at once (both look the key up each
    time). AmbiguousKey when a prefix names several keys, and then none is revoked."""
    async with conn.transaction():
        revoked = await api_keys.revoke_key(conn, ref, store_id)
        if len(revoked) > 1:
            raise AmbiguousKey(ref, len(revoked))  # leaving the transaction undoes it
        for row in revoked:
            await audit.record(conn, store_id=row["store_id"], actor=actor,
                               action="api_key.revoke", object_type="api_key",
                               object_id=row["id"], before={"prefix": row["prefix"]})
    return revoked[0] if revoked else None


def grantable(scopes: Collection[str]) -> tuple[str, ...]:
    """The scopes a key may give a key it creates (or hold over a key it revokes): its own;
    `admin` implies every scope. No key makes or removes a key more powerful than itself."""
    return SCOPES if "admin" in scopes else tuple(s for s in SCOPES if s in scopes)
