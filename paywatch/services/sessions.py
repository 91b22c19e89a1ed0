"""Dashboard sessions: signing in with an API key, signing out, switching an operator's store.
The one module that writes `dashboard_sessions`; each change is audited in its transaction.

The cookie carries a random token; the database keeps only its SHA-256, so neither a read of
the table nor of the audit log can be replayed as a cookie. The API key itself is never kept:
a session points at the key's row, so revoking the key ends every session it opened."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from db import api_keys, audit
from db import dashboard as db
from paywatch.core.apikeys import display_prefix, hash_key, looks_like_key


@dataclass(frozen=True)
class SignedIn:
    token: str          # for the cookie only: never logged, never stored
    key_id: uuid.UUID
    store_id: uuid.UUID | None


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def sign_in(conn: asyncpg.Connection, key: str, client: str,
                  lifetime_s: float) -> SignedIn | None:
    """A session for an active key, or None (audited either way, without the key)."""
    row = await api_keys.active_key_by_hash(conn, hash_key(key)) if looks_like_key(key) else None
    async with conn.transaction():
        if row is None:
            shown = display_prefix(key) if looks_like_key(key) else None
            await audit.record(conn, store_id=None, actor=f"client:{client}",
                               action="dashboard.sign_in_refused", object_type="api_key",
                               object_id=shown or "-", after={"client": client})
            return None
        token = secrets.token_urlsafe(32)
        await db.insert_session(conn, token_hash(token), row["id"], row["store_id"],
                                secrets.token_urlsafe(32), client, lifetime_s)
        await api_keys.touch_key(conn, row["id"])
        await audit.record(conn, store_id=row["store_id"], actor=f"key:{row['id']}",
                           action="dashboard.sign_in", object_type="api_key",
                           object_id=row["id"], after={"client": client})
    return SignedIn(token, row["id"], row["store_id"])


async def sign_out(conn: asyncpg.Connection, token: str, store_id: Any) -> bool:
    """End the session in the database (a stolen copy of the cookie dies with it)."""
    async with conn.transaction():
        ended = await db.end_session(conn, token_hash(token))
        if ended is None:
            return False
        await audit.record(conn, store_id=store_id, actor=f"key:{ended['key_id']}",
                           action="dashboard.sign_out", object_type="api_key",
                           object_id=ended["key_id"])
    return True


async def switch_store(conn: asyncpg.Connection, token: str, key_id: uuid.UUID,
                       store_id: uuid.UUID) -> bool:
    """An operator's session looks at another store from now on."""
    async with conn.transaction():
        switched = await db.switch_store(conn, token_hash(token), store_id)
        if switched is None:
            return False
        await audit.record(conn, store_id=store_id, actor=f"key:{key_id}",
                           action="dashboard.switch_store", object_type="store",
                           object_id=store_id)
    return True
