"""The hosted checkout page: public routes under /pay/{id} (the id is an unguessable UUID and
the page shows only what the customer needs), its QR code, its live event stream, and its
static files. No API key: the auth middleware only guards /v1/."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api.checkout import render
from api.checkout.hub import CheckoutHub, Mailbox, StreamLimit, TooManyStreams
from api.checkout.view import CheckoutView, checkout_view
from api.keys import CHAINS, DB_POOL, SETTINGS
from api.openapi import Operation, Reply
from api.payments import qr_svg
from db import checkout as db
from paywatch.core import txrequest
from paywatch.core.chains import TransactionRequests

CHECKOUT_HUB = web.AppKey("checkout_hub", CheckoutHub)

HEARTBEAT_S = 15.0      # a comment line this often keeps proxies from closing an idle stream
STREAM_MAX_S = 600.0    # then the browser reconnects: no stream lives for hours
RETRY_MS = 3000         # how long EventSource waits before reconnecting
BUSY_RETRY_AFTER_S = 30

# Every checkout response: nothing sniffed, nothing leaked to other sites in a Referer.
_COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def csp(allow_framing: bool) -> str:
    ancestors = "'self'" if allow_framing else "'none'"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'none'; base-uri 'none'; "
            f"frame-ancestors {ancestors}")


def page_headers(allow_framing: bool) -> dict[str, str]:
    return {**_COMMON, "Content-Security-Policy": csp(allow_framing),
            # For browsers that predate frame-ancestors.
            "X-Frame-Options": "SAMEORIGIN" if allow_framing else "DENY",
            "Cache-Control": "no-store", "Cross-Origin-Opener-Policy": "same-origin"}


def parse_payment_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _not_found_page() -> web.Response:
    return web.Response(status=404, text=render.not_found_page(), content_type="text/html",
                        charset="utf-8", headers=page_headers(allow_framing=False))


def _not_found_plain() -> web.Response:
    return web.Response(status=404, text="no such payment\n",
                        headers={**_COMMON, "Cache-Control": "no-store"})


async def checkout_page(request: web.Request) -> web.Response:
    payment_id = parse_payment_id(request.match_info["id"])
    row = None if payment_id is None else await db.checkout(request.app[DB_POOL], payment_id)
    if row is None:
        return _not_found_page()
    view = checkout_view(row, datetime.now(UTC), request.app[CHAINS])
    return web.Response(text=render.page(row, view, request.app[CHAINS],
                                         tx_request_url(request, row)),
                        content_type="text/html", charset="utf-8",
                        headers=page_headers(row["allow_framing"]))


def tx_request_url(request: web.Request, row: Mapping[str, Any]) -> str | None:
    """The payment's Solana Pay Transaction Request, when its chain answers them and this
    server has a public URL wallets can reach (api/txrequest.py serves it)."""
    if not isinstance(request.app[CHAINS].get(row["chain"]), TransactionRequests):
        return None
    return txrequest.request_url(request.app[SETTINGS].public_url, row["id"])


async def checkout_qr(request: web.Request) -> web.Response:
    """The request the page asks the customer to pay now; 404 once there is nothing to pay,
    so an old tab or screenshot never offers a stale request."""
    payment_id = parse_payment_id(request.match_info["id"])
    row = None if payment_id is None else await db.checkout(request.app[DB_POOL], payment_id)
    view = None if row is None else checkout_view(row, datetime.now(UTC), request.app[CHAINS])
    if view is None or view.pay_url is None:
        return _not_found_plain()
    return web.Response(body=qr_svg(view.pay_url), content_type="image/svg+xml",
                        headers={**_COMMON, "Cache-Control": "no-store"})


async def checkout_tx_request_qr(request: web.Request) -> web.Response:
    """The Transaction Request as a QR code, while the page asks for a payment."""
    payment_id = parse_payment_id(request.match_info["id"])
    row = None if payment_id is None else await db.checkout(request.app[DB_POOL], payment_id)
    view = None if row is None else checkout_view(row, datetime.now(UTC), request.app[CHAINS])
    url = None if row is None or view is None or not view.payable else tx_request_url(request,
                                                                                       row)
    if url is None:
        return _not_found_plain()
    return web.Response(body=qr_svg(url), content_type="image/svg+xml",
                        headers={**_COMMON, "Cache-Control": "no-store"})


async def checkout_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: the current state at once, then each change; ends when final."""
    payment_id = parse_payment_id(request.match_info["id"])
    if payment_id is None:
        return _not_found_plain()
    try:
        async with request.app[CHECKOUT_HUB].watch(
                payment_id, client_address(request, request.app[SETTINGS].client_ip_header),
                lambda: _hung_up(request)) as mailbox:
            # Watching first, then reading: a change in between reaches the mailbox.
            row = await db.checkout(request.app[DB_POOL], payment_id)
            if row is None:
                return _not_found_plain()
            response = web.StreamResponse(headers={
                **_COMMON, "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
            await response.prepare(request)
            with contextlib.suppress(ConnectionResetError):  # the customer went away
                view = checkout_view(row, datetime.now(UTC), request.app[CHAINS])
                await _stream(response, mailbox, view)
            return response
    except StreamLimit as exc:
        # 429, not 503: this client (or this payment) has its share; the page falls back to
        # reloading, as on a busy server.
        return web.Response(status=429, text=f"too many live checkout pages: {exc}; this page "
                            "reloads by itself\n",
                            headers={**_COMMON, "Cache-Control": "no-store",
                                     "Retry-After": str(BUSY_RETRY_AFTER_S)})
    except TooManyStreams:
        return web.Response(status=503, text="too many live checkout pages; this page "
                            "reloads by itself, or retry later\n",
                            headers={**_COMMON, "Cache-Control": "no-store",
                                     "Retry-After": str(BUSY_RETRY_AFTER_S)})


def client_address(request: web.Request, header: str | None) -> str:
    """Whose stream this is. Behind a reverse proxy every customer shares the proxy's address,
    so the operator names the header the proxy sets (PAYWATCH_CLIENT_IP_HEADER); its last
    entry is the one the proxy itself added (earlier X-Forwarded-For entries come from the
    client and prove nothing)."""
    if header:
        forwarded = request.headers.get(header, "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.remote or "unknown"


def _hung_up(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def sse_event(view: CheckoutView) -> bytes:
    return f"data: {json.dumps(view.event_data(), separators=(',', ':'))}\n\n".encode()


async def _stream(response: web.StreamResponse, mailbox: Mailbox, view: CheckoutView) -> None:
    loop = asyncio.get_running_loop()
    await response.write(f"retry: {RETRY_MS}\n".encode() + sse_event(view))
    last, started, written = view.identity(), loop.time(), loop.time()
    while not view.final and not mailbox.closed:
        now = loop.time()
        if now - started >= STREAM_MAX_S:
            return
        await mailbox.wait(min(HEARTBEAT_S - (now - written), STREAM_MAX_S - (now - started)))
        if mailbox.view is not None and mailbox.view.identity() != last:
            view = mailbox.view
            await response.write(sse_event(view))
            last, written = view.identity(), loop.time()
        elif loop.time() - written >= HEARTBEAT_S:
            await response.write(b": keep-alive\n\n")
            written = loop.time()


async def static_file(request: web.Request) -> web.Response:
    asset = render.static_assets().get(request.match_info["name"])
    if asset is None:
        return _not_found_plain()
    return web.Response(body=asset.body, content_type=asset.content_type, charset="utf-8",
                        headers={**_COMMON, "Cache-Control": "public, max-age=86400"})


def add_routes(app: web.Application) -> None:
    hub = CheckoutHub(app[DB_POOL], app[CHAINS])
    app[CHECKOUT_HUB] = hub

    async def close_hub(_app: web.Application) -> None:
        await hub.close()

    app.on_shutdown.append(close_hub)
    app.router.add_get("/pay/{id}", checkout_page)
    app.router.add_get("/pay/{id}/events", checkout_events)
    app.router.add_get("/pay/{id}/qr.svg", checkout_qr)
    app.router.add_get("/pay/{id}/transaction-request/qr.svg", checkout_tx_request_qr)
    app.router.add_get("/checkout/static/{name}", static_file)


_GONE = Reply(404, "No such payment, or nothing to pay now", None, "text/plain")
OPERATIONS = [
    Operation("GET", "/pay/{id}", "The hosted checkout page: send the customer here "
              "(a payment's `checkout_url`)", None, content_type="text/html",
              replies=(Reply(404, "No such payment: a page that says so", None, "text/html"),)),
    Operation("GET", "/pay/{id}/events", "The checkout page's live updates (Server-Sent "
              "Events): the payment's state at once, then each change; ends when final", None,
              content_type="text/event-stream",
              replies=(_GONE, Reply(429, "Too many live pages from this client or for this "
                                    "payment; see Retry-After", None, "text/plain"),
                       Reply(503, "Too many live pages on this server; see Retry-After", None,
                             "text/plain"))),
    Operation("GET", "/pay/{id}/qr.svg", "The payment request the page asks for now, as a QR "
              "code", None, content_type="image/svg+xml", replies=(_GONE,)),
    Operation("GET", "/pay/{id}/transaction-request/qr.svg", "The payment's Solana Pay "
              "Transaction Request link as a QR code", None, content_type="image/svg+xml",
              replies=(_GONE,)),
]
