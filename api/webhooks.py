"""Webhook endpoints (the secret is shown once, at creation) and the event log (list, read with
its deliveries, redeliver)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
from aiohttp import web
from pydantic import Field

from api.auth import Principal, principal
from api.body import parse_body, parse_query, respond
from api.errors import ApiError
from api.idempotency import Work, run_once
from api.keys import DB_POOL, SETTINGS
from api.models.common import (
    ListResponse,
    ObjectId,
    OptionalTimestamp,
    QueryModel,
    RequestModel,
    ResponseModel,
    SeqCursor,
    Timestamp,
)
from api.openapi import Operation
from api.payments import parse_id, store_of
from db import audit
from db import webhooks as db
from paywatch.core.ssrf import UnsafeUrl, check_url
from paywatch.core.webhooks import new_secret

EventType = Literal[
    "*", "payment.created", "payment.detected", "payment.confirmed", "payment.expired",
    "payment.paid_late", "payment.cancelled", "payment.reverted", "payment.invalid",
    "order.created", "order.paid", "order.cancelled", "order.fulfilled",
    "transfer.unmatched", "transfer.assigned", "transfer.dismissed",
    "refund.created", "refund.confirmed", "refund.expired", "refund.cancelled",
    "refund.reverted", "order.refunded", "order.partially_refunded", "order.refund_reverted",
    "webhook_endpoint.disabled"]
EVERY_EVENT: tuple[EventType, ...] = ("*",)  # an endpoint's default subscription


class EndpointCreate(RequestModel):
    url: Annotated[str, Field(min_length=10, max_length=2048, pattern=r"^https?://")]
    event_types: Annotated[list[EventType], Field(min_length=1, max_length=20)] = Field(
        default_factory=lambda: list(EVERY_EVENT))
    description: Annotated[str, Field(max_length=500)] | None = None


class Endpoint(ResponseModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    secret: str | None = Field(default=None, description="only in the answer that created it")
    created_at: Timestamp


class EndpointList(ListResponse):
    data: list[Endpoint]


class Delivery(ResponseModel):
    endpoint_id: str
    url: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: Timestamp
    delivered_at: OptionalTimestamp


class Event(ResponseModel):
    object: Literal["event"] = "event"
    id: str
    type: str
    payment_id: str | None
    order_id: str | None
    data: dict[str, Any]
    created_at: Timestamp
    deliveries: list[Delivery] | None = None


class EventList(ListResponse):
    data: list[Event]


class EventQuery(QueryModel):
    type: Annotated[str, Field(max_length=64)] | None = None
    payment_id: ObjectId | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: SeqCursor | None = None


def endpoint_out(row: asyncpg.Record, secret: str | None = None) -> Endpoint:
    return Endpoint(id=str(row["id"]), url=row["url"], event_types=list(row["event_types"]),
                    description=row["description"], enabled=row["enabled"],
                    disabled_reason=row["disabled_reason"], secret=secret,
                    created_at=row["created_at"])


def event_out(row: asyncpg.Record, deliveries: list[asyncpg.Record] | None = None) -> Event:
    return Event(
        id=str(row["id"]), type=row["type"],
        payment_id=str(row["payment_id"]) if row["payment_id"] else None,
        order_id=str(row["order_id"]) if row["order_id"] else None, data=row["data"],
        created_at=row["created_at"],
        deliveries=None if deliveries is None else [Delivery(
            endpoint_id=str(d["endpoint_id"]), url=d["url"], status=d["status"],
            attempts=d["attempts"], last_status_code=d["last_status_code"],
            last_error=d["last_error"], next_attempt_at=d["next_attempt_at"],
            delivered_at=d["delivered_at"]) for d in deliveries])


async def endpoint_creation(request: web.Request, who: Principal,
                            body: EndpointCreate) -> Work:
    """The work that adds an endpoint (the API's and the dashboard's): its URL passes the SSRF
    policy first (a 422 `url_not_allowed`), then the row and its audit row in one transaction.
    The answer carries the new secret, the one time it is ever shown."""
    who.require("webhooks:write")
    store_id = store_of(who)
    try:
        await check_url(body.url, request.app[SETTINGS].webhook_allow_private)
    except UnsafeUrl as exc:
        raise ApiError(422, "url_not_allowed", str(exc), param="url") from None
    secret = new_secret()

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        row = await db.insert_endpoint(conn, store_id, body.url, secret, body.description,
                                       list(body.event_types))
        await audit.record(conn, store_id=store_id, actor=who.actor,
                           action="webhook_endpoint.create", object_type="webhook_endpoint",
                           object_id=row["id"], after={"url": body.url,
                                                       "event_types": body.event_types})
        return 201, endpoint_out(row, secret).model_dump(mode="json")

    return work


async def create_endpoint(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("webhooks:write")
    store_of(who)
    body = await parse_body(request, EndpointCreate)
    return await run_once(request, who, await endpoint_creation(request, who, body))


async def list_endpoints(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("webhooks:read")
    async with request.app[DB_POOL].acquire() as conn:
        rows = await db.endpoints(conn, store_of(who))
    return respond(EndpointList(data=[endpoint_out(r) for r in rows], has_more=False,
                                next_cursor=None))


async def remove_endpoint(conn: asyncpg.Connection, who: Principal,
                          endpoint_id: uuid.UUID) -> None:
    """Delete one of the store's endpoints and audit it (the caller's transaction); another
    store's endpoint is a 404."""
    who.require("webhooks:write")
    store_id = store_of(who)
    if not await db.delete_endpoint(conn, endpoint_id, store_id):
        raise ApiError(404, "resource_missing", f"no webhook endpoint {endpoint_id}")
    await audit.record(conn, store_id=store_id, actor=who.actor,
                       action="webhook_endpoint.delete", object_type="webhook_endpoint",
                       object_id=endpoint_id)


async def delete_endpoint(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("webhooks:write")
    store_of(who)
    endpoint_id = parse_id(request.match_info["id"], "webhook endpoint")
    async with request.app[DB_POOL].acquire() as conn, conn.transaction():
        await remove_endpoint(conn, who, endpoint_id)
    return web.Response(status=204)


async def list_events(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("webhooks:read")
    q = parse_query(request, EventQuery)
    async with request.app[DB_POOL].acquire() as conn:
        rows = await db.list_events(conn, store_of(who), type_=q.type, payment_id=q.payment_id,
                                    before_seq=int(q.cursor) if q.cursor else None,
                                    limit=q.limit + 1)
    page, more = rows[: q.limit], len(rows) > q.limit
    return respond(EventList(data=[event_out(r) for r in page], has_more=more,
                             next_cursor=str(page[-1]["seq"]) if more else None))


async def get_event(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("webhooks:read")
    event_id = parse_id(request.match_info["id"], "event")
    async with request.app[DB_POOL].acquire() as conn:
        row = await db.event(conn, event_id, store_of(who))
        if row is None:
            raise ApiError(404, "resource_missing", f"no event {event_id}")
        return respond(event_out(row, await db.event_deliveries(conn, event_id)))


def redelivery(who: Principal, event_id: uuid.UUID) -> Work:
    """The work that delivers one of the store's events again to every endpoint that wants it
    (the API's and the dashboard's); another store's event is a 404."""
    who.require("webhooks:write")
    store_id = store_of(who)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        row = await db.event(conn, event_id, store_id)
        if row is None:
            raise ApiError(404, "resource_missing", f"no event {event_id}")
        await db.redeliver(conn, event_id, store_id, datetime.now(UTC))
        await audit.record(conn, store_id=store_id, actor=who.actor, action="event.redeliver",
                           object_type="event", object_id=event_id)
        return 200, event_out(row, await db.event_deliveries(conn, event_id)).model_dump(
            mode="json")

    return work


async def redeliver(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("webhooks:write")
    store_of(who)
    event_id = parse_id(request.match_info["id"], "event")
    return await run_once(request, who, redelivery(who, event_id))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/webhook_endpoints", create_endpoint)
    app.router.add_get("/v1/webhook_endpoints", list_endpoints)
    app.router.add_delete("/v1/webhook_endpoints/{id}", delete_endpoint)
    app.router.add_get("/v1/events", list_events)
    app.router.add_get("/v1/events/{id}", get_event)
    app.router.add_post("/v1/events/{id}/redeliver", redeliver)


OPERATIONS = [
    Operation("POST", "/v1/webhook_endpoints", "Add a webhook endpoint (its secret is shown "
              "once)", Endpoint, 201, "webhooks:write", request=EndpointCreate),
    Operation("GET", "/v1/webhook_endpoints", "List webhook endpoints", EndpointList,
              scope="webhooks:read"),
    Operation("DELETE", "/v1/webhook_endpoints/{id}", "Remove a webhook endpoint", None, 204,
              "webhooks:write"),
    Operation("GET", "/v1/events", "List events, newest first", EventList,
              scope="webhooks:read", query=EventQuery),
    Operation("GET", "/v1/events/{id}", "Retrieve an event and its deliveries", Event,
              scope="webhooks:read"),
    Operation("POST", "/v1/events/{id}/redeliver", "Deliver an event again", Event,
              scope="webhooks:write"),
]

