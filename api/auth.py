"""Bearer API keys. A key belongs to one store (or is the operator's admin key) and has scopes.

Every /v1 route authenticates; a handler then asks for the scope it needs. Unknown, malformed,
revoked and expired keys all get the same 401, so the answer leaks nothing about which it was."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aiohttp import web

from api.errors import ApiError, Handler
from api.keys import DB_POOL, RATE_LIMITER
from db import api_keys
from paywatch.core.apikeys import hash_key, looks_like_key


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
    async with request.app[DB_POOL].acquire() as conn:
        row = await api_keys.active_key_by_hash(conn, hash_key(token))
        if row is None:
            raise _unauthorized("invalid API key")
        await api_keys.touch_key(conn, row["id"])
    return Principal(row["id"], row["store_id"], row["store_slug"], frozenset(row["scopes"]))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/v1/"):
        who = await authenticate(request)
        request.app[RATE_LIMITER].check(who.key_id)
        request[PRINCIPAL] = who
    return await handler(request)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]
