"""Runs a POST's database work once per Idempotency-Key (see db/idempotency.py for how)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from api.auth import Principal
from api.errors import ApiError
from api.keys import DB_POOL
from db import idempotency
from db.pool import dumps_json

MAX_KEY_LENGTH = 255

Work = Callable[[asyncpg.Connection], Awaitable[tuple[int, Any]]]


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ApiError(400, "idempotency_key_invalid",
                       f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters",
                       param="Idempotency-Key")
    # aiohttp keeps bytes that are not UTF-8 as lone surrogates (not printable); the key is
    # stored as text, so such a key (or a control character) would fail in the database.
    if not key.isprintable():
        raise ApiError(400, "idempotency_key_invalid",
                       "Idempotency-Key must be printable UTF-8 text", param="Idempotency-Key")


def _scope(who: Principal) -> str:
    return f"store:{who.store_id}" if who.store_id else f"operator:{who.key_id}"


async def run_once(request: web.Request, who: Principal, work: Work) -> web.Response:
    """Run `work(conn)` in one transaction; with an Idempotency-Key, at most once per key."""
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        _check_key(key)
    status, body, replayed = await run_keyed(request, who, key, work)
    return json_response(body, status=status,
                         headers={"Idempotent-Replayed": "true"} if replayed else None)


async def run_keyed(request: web.Request, who: Principal, key: str | None,
                    work: Work) -> tuple[int, Any, bool]:
    """`work(conn)` in one transaction, at most once per `key` (when one is given): the status,
    the body, and whether it is the stored answer of an earlier run. The API's key comes from
    the Idempotency-Key header; the dashboard's from the form (so a double submit acts once)."""
    digest = hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n"
                            + await request.read()).digest()
    async with request.app[DB_POOL].acquire() as conn, conn.transaction():
        if key is not None and not await idempotency.claim(
                conn, _scope(who), key, request.method, request.path, digest):
            status, body = await _replay(conn, who, key, digest)
            return status, body, True
        status, body = await work(conn)
        if key is not None:
            await idempotency.save(conn, _scope(who), key, status, body)
    return status, body, False


async def _replay(conn: asyncpg.Connection, who: Principal, key: str,
                  digest: bytes) -> tuple[int, Any]:
    row = await idempotency.stored(conn, _scope(who), key)
    if row is None or row["response_status"] is None:  # cannot happen after a blocking claim
        raise ApiError(409, "idempotency_key_in_use", "a request with this key is in progress",
                       param="Idempotency-Key")
    if bytes(row["request_hash"]) != digest:
        raise ApiError(409, "idempotency_key_reused",
                       "this Idempotency-Key was used with a different request "
                       f"({row['method']} {row['path']} with another body)",
                       param="Idempotency-Key")
    return row["response_status"], row["response_body"]


def json_response(value: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    """web.json_response's answer (same Content-Type), encoded by db/pool.py's dumps_json."""
    return web.Response(body=dumps_json(value), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")
