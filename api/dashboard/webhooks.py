"""Webhook endpoints and their failing deliveries: add an endpoint (its secret shown once, on
the answer page), remove one, and deliver an event again. Every action is the API's own work
(api/webhooks.py), so the SSRF policy, the refusals and the audit rows are the API's."""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from api import webhooks as api
from api.body import validation_error
from api.errors import ApiError
from api.keys import DB_POOL
from api.payments import parse_id
from db import webhooks as db

from . import render
from .forms import act, see_other
from .session import Viewer, form_of, safe_next, view

LIST_PATH = "/dashboard/webhooks"
FAILING_PATH = "/dashboard/webhooks/failing"
PAGE_SIZE = 25
EVENT_TYPES: tuple[str, ...] = get_args(api.EventType)

NOTICES = {
    "deleted": "The endpoint is removed: it gets no more deliveries.",
    "redelivered": "The event is queued for delivery again to every endpoint that wants it.",
    "created_before": "This form was already sent: the endpoint exists, and its secret was "
                      "shown once, on the first answer. Remove it and add it again for a new "
                      "secret.",
}


async def _list_page(request: web.Request, viewer: Viewer, status: int = 200,
                     **context: Any) -> web.Response:
    async with request.app[DB_POOL].acquire() as conn:
        endpoints = await db.endpoints_with_health(conn, viewer.who.store_id)
    context.setdefault("typed", {"url": "", "description": "", "event_types": ["*"]})
    context.setdefault("created", None)
    context.setdefault("error", None)
    return render.html(request, "webhooks.html", status=status, viewer=viewer,
                       notices=NOTICES, endpoints=endpoints, event_types=EVENT_TYPES,
                       failing=sum(e["failing"] for e in endpoints), **context)


@view("webhooks:read")
async def endpoint_list(request: web.Request, viewer: Viewer) -> web.Response:
    return await _list_page(request, viewer)


async def _typed(request: web.Request) -> dict[str, Any]:
    """What the create form sent, as typed (the page keeps it on a refusal)."""
    form = await form_of(request)
    chosen = [v for v in (await request.post()).getall("event_types", [])
              if isinstance(v, str)]
    return {"url": form.get("url", "").strip(),
            "description": form.get("description", "").strip(), "event_types": chosen}


def _body(typed: dict[str, Any]) -> api.EndpointCreate:
    data: dict[str, Any] = {"url": typed["url"]}
    if typed["description"]:
        data["description"] = typed["description"]
    if typed["event_types"]:           # none ticked: the API's default, every event
        data["event_types"] = typed["event_types"]
    try:
        return api.EndpointCreate.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


@view("webhooks:write")
async def create_endpoint(request: web.Request, viewer: Viewer) -> web.Response:
    typed = await _typed(request)
    try:
        work = await api.endpoint_creation(request, viewer.who, _body(typed))
    except ApiError as exc:
        if exc.status != 422:
            raise
        return await _list_page(request, viewer, 422, typed=typed, error=exc)
    shown: list[str] = []

    async def once(conn: asyncpg.Connection) -> tuple[int, Any]:
        # The secret goes to this answer's page only: the stored answer (a double submit's
        # replay) lacks it, so it is never shown twice.
        status, body = await work(conn)
        shown.append(body.pop("secret"))
        return status, body

    status, body, _replayed = await act(request, viewer, once)
    if not shown:
        raise see_other(LIST_PATH, notice="created_before")
    created = {"url": body["url"], "id": body["id"], "secret": shown[0]}
    return await _list_page(request, viewer, status, created=created)


@view("webhooks:write")
async def delete_endpoint(request: web.Request, viewer: Viewer) -> web.Response:
    endpoint_id = parse_id(request.match_info["id"], "webhook endpoint")

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        await api.remove_endpoint(conn, viewer.who, endpoint_id)
        return 204, None

    await act(request, viewer, work)
    raise see_other(LIST_PATH, notice="deleted")


def _cursor(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise ApiError(400, "cursor_invalid", "this page link is not valid: start again from "
                       "the first page")
    return int(raw)


@view("webhooks:read")
async def failing(request: web.Request, viewer: Viewer) -> web.Response:
    before = _cursor(request.query.get("cursor"))
    async with request.app[DB_POOL].acquire() as conn:
        rows = await db.failing_deliveries(conn, viewer.who.store_id, before_id=before,
                                           limit=PAGE_SIZE + 1)
    page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    return render.html(request, "webhooks_failing.html", viewer=viewer, notices=NOTICES,
                       deliveries=page, first=before is None,
                       next_cursor=str(page[-1]["id"]) if more else None,
                       here=request.path_qs)


def with_notice(location: str, notice: str) -> str:
    """`location` (a dashboard path, maybe with a query) with `notice` set in its query."""
    parts = urlsplit(location)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "notice"]
    return f"{parts.path}?{urlencode([*query, ('notice', notice)])}"


@view("webhooks:write")
async def redeliver(request: web.Request, viewer: Viewer) -> web.Response:
    """Deliver an event again (the API's redeliver), then back to the page the form came from
    when it is one of ours (a payment's page posts here too), else to the failing list."""
    event_id = parse_id(request.match_info["event_id"], "event")
    await act(request, viewer, api.redelivery(viewer.who, event_id))
    raw = (await form_of(request)).get("next")
    target = safe_next(raw)
    if target != raw:                  # missing or not a dashboard path of ours
        target = FAILING_PATH
    raise web.HTTPSeeOther(with_notice(target, "redelivered"))


def add_routes(app: web.Application) -> None:
    app.router.add_get(LIST_PATH, endpoint_list)
    app.router.add_post(LIST_PATH, create_endpoint)
    app.router.add_post(f"{LIST_PATH}/{{id}}/delete", delete_endpoint)
    app.router.add_get(FAILING_PATH, failing)
    app.router.add_post("/dashboard/events/{event_id}/redeliver", redeliver)

