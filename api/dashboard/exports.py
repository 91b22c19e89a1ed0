"""Exports: the store's books for a period, downloaded as the API's export sends them (the same
streaming body, api/exports.py stream_export). The download is a GET: reading changes nothing,
so the link can be bookmarked and needs no CSRF token."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from aiohttp import web

from api.errors import ApiError
from api.exports import stream_export
from api.payments import store_of
from paywatch.core import books

from . import render
from .session import Viewer, view

FORMATS = ("csv", "json")


def _defaults() -> dict[str, str]:
    """Last calendar month (UTC): what finance closes most often."""
    first = datetime.now(UTC).date().replace(day=1)
    start = (first - timedelta(days=1)).replace(day=1)
    return {"kind": "payments", "from": start.isoformat(),
            "to": (first - timedelta(days=1)).isoformat(), "format": "csv"}


def _page(request: web.Request, viewer: Viewer, typed: dict[str, str],
          error: ApiError | None = None) -> web.Response:
    return render.html(request, "exports.html", status=error.status if error else 200,
                       viewer=viewer, typed=typed, error=error, kinds=books.KINDS,
                       formats=FORMATS)


@view("payments:read")
async def export_form(request: web.Request, viewer: Viewer) -> web.Response:
    return _page(request, viewer, _defaults())


def _day(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "parameter_invalid", f"{name}: give a date as YYYY-MM-DD",
                       param=name) from None


def period(typed: dict[str, str]) -> tuple[str, str, datetime, datetime]:
    """(kind, format, start, end) of the form: whole UTC days, `to` included (the API's `to`
    is exclusive, so the end is the next day's midnight)."""
    kind, fmt = typed["kind"], typed["format"]
    if kind not in books.KINDS:
        raise ApiError(422, "parameter_invalid", f"kind: one of {', '.join(books.KINDS)}",
                       param="kind")
    if fmt not in FORMATS:
        raise ApiError(422, "parameter_invalid", "format: csv or json", param="format")
    start = datetime.combine(_day(typed["from"], "from"), time(), UTC)
    end = datetime.combine(_day(typed["to"], "to"), time(), UTC) + timedelta(days=1)
    try:
        books.check_period(start, end)
    except ValueError as exc:
        raise ApiError(422, "parameter_invalid", str(exc).replace("from must be before to",
                       "the first day must not be after the last"), param="to") from None
    return kind, fmt, start, end


@view("payments:read")
async def download(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    typed = {name: request.query.get(name, "")[:40] for name in ("kind", "from", "to", "format")}
    try:
        kind, fmt, start, end = period(typed)
    except ApiError as exc:            # the form again, as typed, with what to fix
        return _page(request, viewer, typed, exc)
    return await stream_export(request, store_of(viewer.who), kind, fmt, start, end)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dashboard/exports", export_form)
    app.router.add_get("/dashboard/exports/download", download)

