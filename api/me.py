"""GET /v1/me: which store and scopes a key has; the quickest way to check a key works."""

from __future__ import annotations

from aiohttp import web

from api.auth import principal


async def me(request: web.Request) -> web.Response:
    who = principal(request)
    return web.json_response({
        "object": "api_key",
        "id": str(who.key_id),
        "store": {"id": str(who.store_id), "slug": who.store_slug} if who.store_id else None,
        "scopes": sorted(who.scopes),
    })


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/me", me, name="me")
