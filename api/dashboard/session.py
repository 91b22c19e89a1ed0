"""Who is looking at the dashboard: sign in with an API key, a server-side session behind an
HttpOnly SameSite=Strict cookie, a CSRF token on every form, sign out that ends the session in
the database, and an operator's store switcher.

Every dashboard route is a `view`: the decorator loads the session (or sends the browser to sign
in), refuses a POST without the session's CSRF token, asks for the route's scope, and turns the
refusals of the services (ApiError, as the API raises them) into an HTML page with the same
status. What a key's scopes do not allow is hidden by the templates (`viewer.can`) and refused
here if forged."""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

from api.auth import Principal
from api.checkout.routes import client_address
from api.errors import ApiError, Handler, database_unavailable
from api.keys import DB_POOL, SETTINGS
from api.ratelimit import RateLimiter
from db import dashboard as db
from db import stores
from db.pool import UNAVAILABLE_ERRORS
from paywatch.core.chains import ChainInputError
from paywatch.services import sessions

from . import render

log = logging.getLogger("paywatch.api.dashboard")

COOKIE = "paywatch_session"
SIGN_IN_COOKIE = "paywatch_sign_in"   # the sign-in form's CSRF token (no session yet)
SIGN_IN_PATH = "/dashboard/sign-in"
STORES_PATH = "/dashboard/stores"
MAX_FORM_BYTES = 64 * 1024

SIGN_IN_LIMITER = web.AppKey("dashboard_sign_in_limiter", RateLimiter)


@dataclass(frozen=True)
class Viewer:
    """The signed-in key, acting on the store in view (an operator's key: the store chosen
    with the switcher; `who.store_id` None until one is). Actions audit `who.actor`."""

    who: Principal
    token: str
    csrf: str
    key_name: str
    key_prefix: str
    operator: bool
    store_name: str | None

    def can(self, scope: str) -> bool:
        return scope in self.who.scopes or "admin" in self.who.scopes


ViewHandler = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]


def secure_cookies(request: web.Request) -> bool:
    public = request.app[SETTINGS].public_url
    return public is not None and public.startswith("https://")


async def current_viewer(request: web.Request) -> Viewer | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 100:
        return None
    settings = request.app[SETTINGS]
    async with request.app[DB_POOL].acquire() as conn:
        row = await db.touch_session(conn, sessions.token_hash(token),
                                     settings.dashboard_idle_seconds)
    if row is None:
        return None
    who = Principal(row["key_id"], row["store_id"], row["store_slug"], frozenset(row["scopes"]))
    return Viewer(who, token, row["csrf_token"], row["key_name"], row["key_prefix"],
                  row["operator"], row["store_name"])


async def form_of(request: web.Request) -> dict[str, str]:
    """The posted form, read once (the CSRF check and the action both use it)."""
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise ApiError(413, "form_too_large", "the form is too large")
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "post the dashboard's own forms")
    posted = await request.post()
    return {k: v for k, v in posted.items() if isinstance(v, str)}


def _csrf_ok(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def view(scope: str | None = None, *, needs_store: bool = True
         ) -> Callable[[ViewHandler], Handler]:
    """A dashboard route: signed in, CSRF-checked on POST, `scope` required, on a store."""
    def wrap(handler: ViewHandler) -> Handler:
        @functools.wraps(handler)
        async def page(request: web.Request) -> web.StreamResponse:
            viewer: Viewer | None = None
            try:
                viewer = await current_viewer(request)
                if viewer is None:
                    return _to_sign_in(request)
                if request.method == "POST" and not _csrf_ok(
                        viewer.csrf, (await form_of(request)).get("csrf")):
                    raise ApiError(403, "csrf_token_invalid", "this form is stale or was not "
                                   "sent by the dashboard: reload the page and try again")
                if needs_store and viewer.who.store_id is None:
                    raise web.HTTPSeeOther(STORES_PATH)
                if scope is not None:
                    viewer.who.require(scope)
                return await handler(request, viewer)
            except ApiError as exc:
                return error_page(request, viewer, exc)
            except ChainInputError as exc:
                return error_page(request, viewer, ApiError(exc.status, exc.code, exc.message))
            except UNAVAILABLE_ERRORS as exc:
                return error_page(request, None, database_unavailable(request, exc))
        return page
    return wrap


def _to_sign_in(request: web.Request) -> web.Response:
    target = request.path_qs if request.method == "GET" else "/dashboard"
    raise web.HTTPSeeOther(f"{SIGN_IN_PATH}?next={quote(target, safe='')}")


def error_page(request: web.Request, viewer: Viewer | None, exc: ApiError) -> web.Response:
    return render.html(request, "error.html", status=exc.status, headers=exc.headers,
                       viewer=viewer, error=exc)


def safe_next(raw: str | None) -> str:
    """Only a dashboard path of ours (never `//host` or a scheme): no open redirect."""
    if raw and raw.startswith("/dashboard") and "//" not in raw and "\\" not in raw:
        return raw
    return "/dashboard"


async def sign_in_page(request: web.Request, error: ApiError | None = None,
                       status: int = 200) -> web.Response:
    # The same token across a refused attempt's page: a second try from it still works.
    kept = request.cookies.get(SIGN_IN_COOKIE, "")
    token = kept if 32 <= len(kept) <= 64 else secrets.token_urlsafe(32)
    response = render.html(request, "sign_in.html", status=status, viewer=None, error=error,
                           csrf=token, next=safe_next(request.query.get("next")),
                           notice=request.query.get("notice"))
    response.set_cookie(SIGN_IN_COOKIE, token, httponly=True, samesite="Strict",
                        secure=secure_cookies(request), path=SIGN_IN_PATH, max_age=3600)
    return response


async def sign_in(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    client = client_address(request, settings.client_ip_header)
    try:
        form = await form_of(request)
        if not _csrf_ok(request.cookies.get(SIGN_IN_COOKIE, ""), form.get("csrf")):
            raise ApiError(403, "csrf_token_invalid",
                           "this sign-in form is stale: reload the page and try again")
        request.app[SIGN_IN_LIMITER].check(client)
        async with request.app[DB_POOL].acquire() as conn:
            signed = await sessions.sign_in(conn, form.get("api_key", "").strip(), client,
                                            settings.dashboard_session_seconds)
    except ApiError as exc:
        if exc.status == 429:
            log.warning("dashboard sign-in rate limited", extra={"client": client})
            exc.message = "too many sign-in attempts from here; wait a minute and try again"
        return await sign_in_page(request, exc, exc.status)
    except UNAVAILABLE_ERRORS as exc:
        return error_page(request, None, database_unavailable(request, exc))
    if signed is None:
        return await sign_in_page(request, ApiError(
            401, "invalid_api_key", "that API key is unknown, revoked or expired"), 401)
    response = web.HTTPSeeOther(safe_next(form.get("next")))
    response.set_cookie(COOKIE, signed.token, httponly=True, samesite="Strict",
                        secure=secure_cookies(request), path="/dashboard",
                        max_age=settings.dashboard_session_seconds)
    response.del_cookie(SIGN_IN_COOKIE, path=SIGN_IN_PATH)
    raise response


@view(needs_store=False)
async def sign_out(request: web.Request, viewer: Viewer) -> web.Response:
    async with request.app[DB_POOL].acquire() as conn:
        await sessions.sign_out(conn, viewer.token, viewer.who.store_id)
    response = web.HTTPSeeOther(f"{SIGN_IN_PATH}?notice=signed_out")
    response.del_cookie(COOKIE, path="/dashboard")
    raise response


@view(needs_store=False)
async def store_list(request: web.Request, viewer: Viewer) -> web.Response:
    """An operator's store switcher (a store key only ever sees its own store)."""
    if not viewer.operator:
        raise web.HTTPSeeOther("/dashboard")
    async with request.app[DB_POOL].acquire() as conn:
        rows = await stores.list_stores(conn)
    return render.html(request, "stores.html", viewer=viewer, stores=rows)


@view(needs_store=False)
async def switch_store(request: web.Request, viewer: Viewer) -> web.Response:
    if not viewer.operator:
        raise ApiError(404, "resource_missing", "no such page")
    raw = (await form_of(request)).get("store", "")
    async with request.app[DB_POOL].acquire() as conn:
        store = await stores.store_by_slug(conn, raw)
        if store is None:
            raise ApiError(404, "resource_missing", f"no store {raw!r}")
        await sessions.switch_store(conn, viewer.token, viewer.who.key_id, store["id"])
    raise web.HTTPSeeOther("/dashboard")


async def static_file(request: web.Request) -> web.Response:
    asset = render.static_assets().get(request.match_info["name"])
    if asset is None:
        raise web.HTTPNotFound()
    return web.Response(body=asset.body, content_type=asset.content_type, charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "public, max-age=86400"})


def add_routes(app: web.Application) -> None:
    app[SIGN_IN_LIMITER] = RateLimiter(app[SETTINGS].dashboard_sign_ins_per_minute)
    app.router.add_get(SIGN_IN_PATH, sign_in_page)
    app.router.add_post(SIGN_IN_PATH, sign_in)
    app.router.add_post("/dashboard/sign-out", sign_out)
    app.router.add_get(STORES_PATH, store_list)
    app.router.add_post(f"{STORES_PATH}/switch", switch_store)
    app.router.add_get("/dashboard/static/{name}", static_file)
