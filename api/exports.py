"""GET /v1/exports/{kind}: the store's books for a period as CSV or JSON (payments, transfers in
and out, refunds), streamed: rows come from a server-side cursor in batches and go out in
chunks, so memory stays flat however long the period (bench/exports.py measures it)."""

from __future__ import annotations

import logging
import uuid
from contextlib import aclosing
from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import Field, model_validator

from api.auth import principal
from api.body import parse_query
from api.errors import ApiError
from api.keys import CHAINS, DB_POOL
from api.models.common import QueryModel, StoredTime
from api.openapi import Operation
from api.payments import store_of
from db import exports
from paywatch.core import books

log = logging.getLogger("paywatch.api")


class ExportQuery(QueryModel):
    from_: StoredTime = Field(alias="from", description="the period's start, inclusive "
                                                         "(RFC 3339 with a time zone)")
    to: StoredTime = Field(description="the period's end, exclusive")
    format: Literal["csv", "json"] = Field(
        default="csv", description="csv: RFC 4180 with a header line; json: one array of "
                                   "objects; money as decimal strings in both")

    @model_validator(mode="after")
    def _period(self) -> ExportQuery:
        books.check_period(self.from_, self.to)  # its ValueError is the 422's message
        return self


def kind_of(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in books.KINDS:
        raise ApiError(404, "resource_missing", f"no export {kind!r}; exports: "
                       f"{', '.join(books.KINDS)}", param="kind")
    return kind


async def export(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    who.require("payments:read")
    kind = kind_of(request)
    q = parse_query(request, ExportQuery)
    return await stream_export(request, store_of(who), kind, q.format, q.from_, q.to)


async def stream_export(request: web.Request, store_id: uuid.UUID, kind: str, fmt: str,
                        start: datetime, end: datetime) -> web.StreamResponse:
    """The books of `kind` for [start, end) streamed as `fmt`: the one body the API's export
    and the dashboard's download both send (the caller has checked the scope and the period)."""
    explorer = books.explorer_of(request.app[CHAINS])
    async with request.app[DB_POOL].acquire() as conn, \
            aclosing(exports.rows(conn, kind, store_id, start, end)) as rows, \
            aclosing(books.encode(kind, fmt, rows, explorer)) as chunks:
        # The first chunk before the status line: a database that fails at once still gets
        # the error envelope (503) instead of a 200 cut short.
        first = await anext(chunks)
        response = web.StreamResponse(headers={
            "Content-Type": books.CONTENT_TYPES[fmt],
            "Content-Disposition": "attachment; filename="
                                   f"\"{books.filename(kind, start, end, fmt)}\"",
            "Cache-Control": "no-store",
        })
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            await response.write(first)
            async for chunk in chunks:
                await response.write(chunk)
        except ConnectionResetError:  # the client went away: nothing left to tell it
            return response
        except Exception:
            # Too late for an error body: cut the stream short (no final chunk), so the client
            # sees a failed download rather than a file that merely ends early.
            log.exception("export cut short", extra={"kind": kind})
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/exports/{kind}", export)


OPERATIONS = [
    Operation("GET", "/v1/exports/{kind}", "The store's books for a period, streamed: kind is "
              "payments, transfers (in and out, matched or not) or refunds; CSV (default) or "
              "JSON. The README documents every column.", None, scope="payments:read",
              query=ExportQuery, content_type="text/csv"),
]
