"""Dashboard pages as HTML: Jinja2 with autoescaping (every value is escaped unless a template
marks it safe, which ours never do), strict undefined names (a typo fails the test that renders
the page rather than printing nothing), and the headers every dashboard answer carries."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web

from api.keys import CHAINS
from paywatch.core.money import format_units, is_currency, quantize_fiat

# No inline script or style anywhere: the page's script and stylesheet are files we serve.
# Forms post only to us; the dashboard is never framed (clickjacking an action button).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

HEADERS = {
    "Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store", "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    content_type: str

    @property
    def url(self) -> str:
        # The content hash in the URL: cached for long, never stale after an upgrade.
        return f"/dashboard/static/{self.name}?v={hashlib.sha256(self.body).hexdigest()[:12]}"


_STATIC_TYPES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


@cache
def static_assets() -> dict[str, Asset]:
    folder = resources.files("api.dashboard") / "static"
    return {name: Asset(name, (folder / name).read_bytes(), kind)
            for name, kind in _STATIC_TYPES.items()}


def units(amount: int | None, decimals: int) -> str:
    """Base units as the coin's decimal amount (1500000, 6 -> "1.5")."""
    return "" if amount is None else format_units(amount, decimals)


def fiat(amount: Decimal | None, currency: str | None) -> str:
    if amount is None or currency is None:
        return ""
    code = currency.strip()
    shown = quantize_fiat(amount, code) if is_currency(code) else amount
    return f"{shown:,f} {code}"


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
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("api.dashboard", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters.update(units=units, fiat=fiat, when=when, iso=iso)
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
