"""Live dashboard pages over Server-Sent Events.

A live page names what it shows by a short "version" string (a payment's status, exception,
received amount and confirmations, say). Its stream sends the version at once and whenever it
changes; the page's script then fetches the page again and swaps its main region, so the
template stays the one way a page is drawn. Each stream re-reads its version once a second
from the pool (one indexed row): a dashboard has a handful of viewers, and a poll cannot miss
a change the way a notification lost with a dropped connection can."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from api.errors import ApiError
from api.keys import DB_POOL

POLL_S = 1.0
HEARTBEAT_S = 15.0
STREAM_MAX_S = 600.0     # then the browser reconnects by itself
RETRY_MS = 3000
MAX_STREAMS = 200        # per process: a dashboard is for people, not for scripts

Version = Callable[[asyncpg.Connection], Awaitable[str | None]]

_open = 0


async def stream(request: web.Request, version: Version) -> web.StreamResponse:
    """Stream `version` until it is None (the object is gone) or the stream's time is up."""
    global _open
    if _open >= MAX_STREAMS:
        raise ApiError(503, "too_many_streams", "too many live dashboard pages",
                       headers={"Retry-After": "30"})
    _open += 1
    try:
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):
            await _follow(request, response, version)
        return response
    finally:
        _open -= 1


async def _follow(request: web.Request, response: web.StreamResponse, version: Version) -> None:
    loop = asyncio.get_running_loop()
    started = written = loop.time()
    last: str | None = None
    await response.write(f"retry: {RETRY_MS}\n\n".encode())
    while loop.time() - started < STREAM_MAX_S:
        async with request.app[DB_POOL].acquire() as conn:
            now = await version(conn)
        if now is None:
            return
        if now != last:
            await response.write(f"data: {now.replace(chr(10), ' ')}\n\n".encode())
            last, written = now, loop.time()
        elif loop.time() - written >= HEARTBEAT_S:
            await response.write(b": keep-alive\n\n")
            written = loop.time()
        await asyncio.sleep(POLL_S)
