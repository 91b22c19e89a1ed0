"""asyncpg pool with the codecs paywatch relies on.

- jsonb <-> Python objects (Decimal serialised as a string, never a float).
- NUMERIC with scale 0 (our NUMERIC(78,0) base-unit amounts) -> int; any other NUMERIC -> Decimal.
  PostgreSQL keeps a column's scale in every value's text form, so "no decimal point" is exactly
  "an integer amount"; sums of NUMERIC(78,0) stay integers too.
"""

from __future__ import annotations

import contextlib
import json
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import asyncpg
import orjson


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_json(value: Any) -> bytes:
    """Compact JSON as UTF-8, by orjson: a sweep encodes a ~2 KB event per payment, and the
    standard library took several times as long. orjson refuses integers beyond 64 bits (a
    merchant's metadata may hold one) and keys that are not strings: those take the standard
    library's path, which has neither limit. (Decoding stays with the standard library:
    orjson reads such an integer back as a float, silently.)"""
    try:
        return orjson.dumps(value, default=_json_default)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=_json_default, separators=(",", ":")).encode()


def encode_json(value: Any) -> str:
    return dumps_json(value).decode()


def _decode_numeric(text: str) -> int | Decimal:
    if "." in text or text in ("NaN", "Infinity", "-Infinity"):
        return Decimal(text)
    return int(text)


def _encode_numeric(value: int | Decimal | str) -> str:
    if isinstance(value, float):
        raise TypeError("refusing a float for NUMERIC: pass int or Decimal")
    return str(value)


async def init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, encoder=encode_json, decoder=json.loads, schema="pg_catalog"
        )
    await conn.set_type_codec(
        "numeric",
        encoder=_encode_numeric,
        decoder=_decode_numeric,
        schema="pg_catalog",
        format="text",
    )


# What losing the database looks like to a caller (a restart, a cut connection: asyncpg reports a
# connection cut in the middle of an operation as an internal client error). Loops that must
# survive an outage catch these, warn, and try again.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError)


# The subset that means "the database cannot be reached right now" rather than "this query is
# wrong": a refused or cut connection, a server shutting down or full, a database that is gone.
# The API answers these with 503 and Retry-After; anything else stays a bug (500).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, TimeoutError, asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError, asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.InvalidCatalogNameError, asyncpg.exceptions.InternalClientError)


# A database host that drops packets (rather than refusing) would hold a request for asyncpg's
# default 60 s before it could answer 503; a healthy connect takes milliseconds.
CONNECT_TIMEOUT_S = 10.0


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=init_connection,
        timeout=CONNECT_TIMEOUT_S,
        command_timeout=30,
        server_settings={"application_name": "paywatch", "timezone": "UTC"},
    )
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection with the same codecs (migrations, CLI one-offs, advisory locks)."""
    conn = await asyncpg.connect(
        dsn, timeout=CONNECT_TIMEOUT_S,
        server_settings={"application_name": "paywatch", "timezone": "UTC"}
    )
    await init_connection(conn)
    return conn


def transaction(conn: asyncpg.Connection) -> AbstractAsyncContextManager[object]:
    """The caller's transaction when it has one, else a new one. A use case is one transaction
    whether it runs alone or inside the API's idempotent unit of work, without a SAVEPOINT and
    its RELEASE (two round trips) per call. Only for use cases that never catch a database error
    and go on: after one, PostgreSQL refuses the rest of the transaction."""
    return contextlib.nullcontext() if conn.is_in_transaction() else conn.transaction()
