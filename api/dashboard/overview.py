"""The overview: what a merchant checks first (money received, what is waiting, what needs a
hand, whether the watchers are healthy)."""

from __future__ import annotations

from aiohttp import web

from . import render
from .session import Viewer, view


@view("payments:read")
async def overview(request: web.Request, viewer: Viewer) -> web.Response:
    return render.html(request, "overview.html", viewer=viewer)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dashboard", overview)
