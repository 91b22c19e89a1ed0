"""Bearer API keys. A key belongs to one store (or is the operator's admin key) and has scopes.

Every /v1 route authenticates; a handler then asks for the scope it needs. Unknown, malformed,
revoked and expired keys all get the same 401, so the answer leaks nothing about which it was.

Keys that worked are kept in memory (KeyCache), so a request costs no database round trip for
its key; PostgreSQL announces every change that can stop a key (migration 0012) and each
process drops its copy as the notification arrives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from api.errors import ApiError, Handler
from api.keys import DB_POOL, RATE_LIMITER
from db import api_keys, listen
from db.pool import DATABASE_ERRORS
from paywatch.core.apikeys import hash_key, looks_like_key

log = logging.getLogger("paywatch.api.auth")

# How long a cached key is trusted without news: the bound on staleness if a notification is
# lost on a connection that still looks alive. A dropped connection needs no bound: the cache
# stops answering the moment it drops and starts empty when it listens again.
KEY_CACHE_TTL_S = 30.0
# The listener's periodic round: last_used_at written for the keys used since, and everything
# forgotten (a second bound, independent of the entries' own clocks).
KEY_CACHE_ROUND_S = 30.0
FLUSH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID
    store_id: uuid.UUID | None      # None: the operator's admin key
    store_slug: str | None
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"

    def require(self, scope: str) -> None:
        if scope not in self.scopes and "admin" not in self.scopes:
            raise ApiError(403, "missing_scope", f"this API key lacks the {scope!r} scope",
                           type_="permission_error")


PRINCIPAL = web.RequestKey("principal", Principal)


@dataclass(frozen=True, slots=True)
class _Entry:
    who: Principal
    fresh_until: float  # monotonic: the TTL, or the key's own expiry when that comes first


class KeyCache:
    """Active keys by hash, for this process, correct across processes:

    - a key is cached only while the listener on `paywatch_api_keys` is connected, and only if
      no notification arrived during its lookup (a revocation that raced the lookup must not
      be undone by it: the generation counter says whether one did);
    - a notification drops that key ('*': every key) before the next request is served;
    - when the listening connection drops, the cache stops answering and empties; it answers
      again only after it listens again (missed notifications are then moot);
    - an entry lives at most `ttl_s`, and never past the key's expires_at.
    Unknown keys are never cached: a new key works at once, and a wrong one costs a lookup.
    last_used_at is recorded in memory and written for all used keys once per round."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float = KEY_CACHE_TTL_S,
                 round_s: float = KEY_CACHE_ROUND_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pool, self.ttl_s, self.round_s, self.clock = pool, ttl_s, round_s, clock
        self._entries: dict[bytes, _Entry] = {}
        self._hash_of: dict[uuid.UUID, bytes] = {}
        self._generation = 0
        self._listening = False
        self._used: set[uuid.UUID] = set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def holds(self, key_hash: bytes) -> bool:
        """Whether a lookup of this key would be answered from memory (for tests)."""
        return self._cached(key_hash) is not None

    async def principal(self, key_hash: bytes) -> Principal | None:
        """The active key with this hash (from memory when allowed), or None."""
        who = self._cached(key_hash)
        if who is None:
            self._start()
            generation = self._generation
            async with self.pool.acquire() as conn:
                row = await api_keys.active_key_by_hash(conn, key_hash)
            if row is None:
                return None
            who = Principal(row["id"], row["store_id"], row["store_slug"],
                            frozenset(row["scopes"]))
            if self._listening and generation == self._generation:
                self._remember(key_hash, who, row["expires_at"])
        self._used.add(who.key_id)
        return who

    def _cached(self, key_hash: bytes) -> Principal | None:
        entry = self._entries.get(key_hash) if self._listening else None
        if entry is None:
            return None
        if self.clock() >= entry.fresh_until:
            self._forget(entry.who.key_id)
            return None
        return entry.who

    def _remember(self, key_hash: bytes, who: Principal, expires_at: datetime | None) -> None:
        fresh_until = self.clock() + self.ttl_s
        if expires_at is not None:
            fresh_until = min(fresh_until, self.clock()
                              + (expires_at - datetime.now(UTC)).total_seconds())
        self._entries[key_hash] = _Entry(who, fresh_until)
        self._hash_of[who.key_id] = key_hash

    def _forget(self, key_id: uuid.UUID) -> None:
        key_hash = self._hash_of.pop(key_id, None)
        if key_hash is not None:
            self._entries.pop(key_hash, None)

    def _forget_all(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._hash_of.clear()

    # ----- the listener (db/listen.py) ------------------------------------------------------

    def _on_notify(self, payload: str) -> bool:
        """Runs in asyncpg's callback, before any request that comes after it."""
        self._generation += 1
        try:
            self._forget(uuid.UUID(payload))
        except ValueError:  # '*' (a TRUNCATE), or anything else: forget everything
            self._forget_all()
        return False  # nothing to do on the connection: the listener never wakes for this

    def _lost(self) -> None:
        self._listening = False
        self._forget_all()

    async def _round(self, conn: asyncpg.Connection) -> None:
        """At each (re)connect and every round_s: write last_used_at, start afresh."""
        await self._flush(conn)
        self._forget_all()
        self._listening = True

    async def _flush(self, conn: asyncpg.Connection) -> None:
        used, self._used = list(self._used), set()
        try:
            if used:
                await api_keys.touch_keys(conn, used)
        except BaseException:
            self._used.update(used)  # written next time
            raise

    def _start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(listen.listen_and_reload(
                self.pool, listen.API_KEYS_CHANNEL, name="api key cache", reload=self._round,
                every_s=self.round_s, on_notify=self._on_notify, lost=self._lost),
                name="api-key-cache")

    async def close(self) -> None:
        """Stop listening and write what is left of last_used_at (best effort)."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._lost()
        if not self._used:
            return
        try:
            async with asyncio.timeout(FLUSH_TIMEOUT_S), self.pool.acquire() as conn:
                await self._flush(conn)
        except TimeoutError:
            log.warning("api keys' last use not recorded: the database did not answer")
        except DATABASE_ERRORS as exc:
            log.warning("api keys' last use not recorded", extra={"error": str(exc)})


KEY_CACHE = web.AppKey("key_cache", KeyCache)


def install_key_cache(app: web.Application) -> None:
    """The app's key cache; it starts listening at the first request, stops at shutdown."""
    app[KEY_CACHE] = KeyCache(app[DB_POOL])

    async def close(app: web.Application) -> None:
        await app[KEY_CACHE].close()  # whichever cache the app has by then (tests swap it)

    app.on_shutdown.append(close)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "invalid_api_key", message,
                    headers={"WWW-Authenticate": 'Bearer realm="paywatch"'})


async def authenticate(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("send your API key as `Authorization: Bearer pw_live_...`")
    token = token.strip()
    if not looks_like_key(token):
        raise _unauthorized("invalid API key")
    who = await request.app[KEY_CACHE].principal(hash_key(token))
    if who is None:
        raise _unauthorized("invalid API key")
    return who


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/v1/"):
        who = await authenticate(request)
        request.app[RATE_LIMITER].check(who.key_id)
        request[PRINCIPAL] = who
    return await handler(request)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]
