"""The one reconnecting WebSocket loop both chain families use (Solana's log stream, EVM's new
heads): endpoints in turn, a heartbeat, a read that counts silence as a stall, and a jittered
backoff that grows with consecutive failures and starts afresh after a healthy session (a
session that got its subscriptions), so a day of occasional drops never makes every reconnect
wait the maximum. What a session does (subscribe, read, backfill) is the caller's."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import aiohttp

from paywatch.core.metrics import WS_RECONNECTS
from paywatch.core.redact import mask_url, redact_text

log = logging.getLogger("paywatch.watcher.ws")
CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING,
          aiohttp.WSMsgType.ERROR)


class Stalled(TimeoutError):
    """Nothing arrived for longer than the idle limit: the socket is treated as dead."""


async def receive(ws: aiohttp.ClientWebSocketResponse, idle_s: float) -> str:
    """The next frame's text; a close or silence longer than `idle_s` ends the session."""
    try:
        msg = await ws.receive(timeout=idle_s)
    except TimeoutError:
        raise Stalled(f"no message for {idle_s} s") from None
    if msg.type in CLOSED:
        raise aiohttp.ClientConnectionError(f"websocket closed ({msg.type.name})")
    return str(msg.data)


def backoff_s(failures: int, max_backoff_s: float) -> float:
    return min(max_backoff_s, 0.2 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)


class Reconnecting:
    """Run `session(ws)` on a connection to each URL in turn, forever. The session calls
    `healthy()` once it is fully set up; only then does the next drop reset the backoff."""

    def __init__(self, chain: str, urls: list[str], http: aiohttp.ClientSession,
                 session: Callable[[aiohttp.ClientWebSocketResponse], Awaitable[None]], *,
                 heartbeat_s: float, max_backoff_s: float = 15.0) -> None:
        if not urls:
            raise ValueError("at least one WebSocket URL is needed")
        self.chain, self.urls, self.http, self.session = chain, urls, http, session
        self.heartbeat_s, self.max_backoff_s = heartbeat_s, max_backoff_s
        self.failures = 0  # connection attempts since the last healthy session
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests record waits
        self._healthy = False

    def healthy(self) -> None:
        self._healthy = True

    async def run(self) -> None:
        turn = 0
        while True:
            url = self.urls[turn % len(self.urls)]
            self._healthy = False
            try:
                async with self.http.ws_connect(url, heartbeat=self.heartbeat_s) as ws:
                    await self.session(ws)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:  # Stalled included
                # A failed handshake's error quotes the URL, key included: mask both.
                log.warning("websocket lost; reconnecting", extra={
                    "chain": self.chain, "endpoint": mask_url(url),
                    "error": redact_text(f"{type(exc).__name__}: {exc}")})
            self.failures = 1 if self._healthy else self.failures + 1
            WS_RECONNECTS.labels(self.chain).inc()
            turn += 1
            await self.sleep(backoff_s(self.failures, self.max_backoff_s))
