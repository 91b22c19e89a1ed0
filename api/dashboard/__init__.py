"""The merchant dashboard at /dashboard: server-rendered pages for the operator and the finance
person (api/dashboard/session.py says who may see what). Each area is one module; every action
runs the API's own work through the same services (api/dashboard/forms.py)."""

from __future__ import annotations

from aiohttp import web

from api.errors import ApiError

from . import (
    exports,
    inbox,
    keys,
    orders,
    overview,
    payments,
    refunds,
    session,
    settings,
    webhooks,
)
from .session import Viewer, error_page, view

# One module per area, each with `add_routes(app)`, in the menu's order.
AREAS = (session, overview, payments, orders, inbox, refunds, webhooks, exports, settings, keys)


@view(needs_store=False)
async def not_found(request: web.Request, viewer: Viewer) -> web.Response:
    return error_page(request, viewer, ApiError(404, "resource_missing", "no such page"))


def add_routes(app: web.Application) -> None:
    for area in AREAS:
        area.add_routes(app)
    # Last: anything else under /dashboard is an HTML 404 (signed in) or the sign-in page.
    app.router.add_get("/dashboard/{tail:.*}", not_found)
