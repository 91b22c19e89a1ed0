"""Dashboard pages as HTML: Jinja2 with autoescaping (every value is escaped unless a template
marks it safe, which ours never do), strict undefined names (a typo fails the test that renders
the page rather than printing nothing), and the headers every dashboard answer carries. The
environment, static files and shared filters come from api/rendering.py, as the checkout
page's do."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jinja2
from aiohttp import web

from api import rendering
from api.keys import CHAINS
from api.rendering import Asset

# No inline script or style anywhere: the page's script and stylesheet are files we serve.
# Forms post only to us; the dashboard is never framed (clickjacking an action button).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

HEADERS = {
    "Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store", "Cross-Origin-Opener-Policy": "same-origin",
}


_STATIC_TYPES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


@cache
def static_assets() -> dict[str, Asset]:
    return rendering.load_assets("api.dashboard", _STATIC_TYPES, "/dashboard/static")


def when(value: datetime | None) -> str:
    """A timestamp in UTC to the second: finance reads these against other systems' books."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()


def form_id() -> str:
    """A fresh id per rendered form: its submits share it, so a double submit acts once
    (api/dashboard/forms.py runs the action under it as an idempotency key)."""
    return secrets.token_urlsafe(16)


@cache
def environment() -> jinja2.Environment:
    env = rendering.environment("api.dashboard")   # with the filters units, fiat, percent
    env.filters.update(when=when, iso=iso)
    env.globals.update(static=lambda name: static_assets()[name].url, form_id=form_id)
    return env


def html(request: web.Request, template: str, status: int = 200,
         headers: dict[str, str] | None = None, notices: Mapping[str, str] | None = None,
         **context: Any) -> web.Response:
    """Render `template` with the request's chains and the caller's context. `notices`: the
    view's fixed messages, one of which `?notice=` names after a done action (post/redirect/
    get); the query never puts its own text on the page."""
    notice = (notices or {}).get(request.query.get("notice", ""))
    context.setdefault("notice", notice)
    text = environment().get_template(template).render(
        chains=request.app[CHAINS], path=request.path, **context)
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8",
                        headers={**HEADERS, **(headers or {})})
