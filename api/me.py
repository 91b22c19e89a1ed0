"""GET /v1/me: which store and scopes a key has; the quickest way to check a key works."""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from api.auth import principal
from api.body import respond
from api.models.common import ResponseModel
from api.openapi import Operation


class StoreRef(ResponseModel):
    id: str
    slug: str | None


class Me(ResponseModel):
    object: Literal["api_key"] = "api_key"
    id: str
    store: StoreRef | None
    scopes: list[str]


async def me(request: web.Request) -> web.Response:
    who = principal(request)
    store = StoreRef(id=str(who.store_id), slug=who.store_slug) if who.store_id else None
    return respond(Me(id=str(who.key_id), store=store, scopes=sorted(who.scopes)))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/me", me, name="me")


OPERATIONS = [
    Operation("GET", "/v1/me", "The calling key: its store and scopes", Me, scope="any"),
]
