"""The watcher's WebSocket side: one logsSubscribe per watched account (never per payment), one
slotSubscribe so that silence means a stalled socket, a single reader, and on every (re)connect
a fresh set of subscriptions followed by a backfill, because nothing is replayed after a drop.

Providers drop idle sockets and stalled ones go quiet without closing: aiohttp pings every
`heartbeat_s`, and a read that waits longer than `idle_s` counts as a stall and reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from paywatch.core.metrics import NOTIFICATIONS, WS_RECONNECTS
from paywatch.core.redact import mask_url, redact_text

log = logging.getLogger("paywatch.watcher.solana.stream")
CHAIN = "solana"


class StreamStalled(Exception):
    pass


class LogStream:
    def __init__(self, urls: list[str], session: aiohttp.ClientSession, commitment: str,
                 on_signature: Callable[[str], None],
                 on_connected: Callable[[set[str]], Awaitable[None]], *,
                 idle_s: float = 60.0,
                 heartbeat_s: float = 60.0, max_backoff_s: float = 15.0) -> None:
        self.urls, self.session, self.commitment = urls, session, commitment
        self.on_signature, self.on_connected = on_signature, on_connected
        self.idle_s, self.heartbeat_s, self.max_backoff_s = idle_s, heartbeat_s, max_backoff_s
        self.accounts: set[str] = set()
        self.subscribed: dict[int, str] = {}
        self.connected = asyncio.Event()
        self.last_slot = 0  # the newest slot the WebSocket announced
        self._next_id = 0
        self.failures = 0  # connection attempts since the last healthy session
        self.sleep = asyncio.sleep  # the backoff's wait (tests record what it asks for)

    async def run(self) -> None:
        turn = 0
        while True:
            url = self.urls[turn % len(self.urls)]
            try:
                async with self.session.ws_connect(url, heartbeat=self.heartbeat_s) as ws:
                    await self._session(ws)
            except (aiohttp.ClientError, OSError, TimeoutError, StreamStalled) as exc:
                # A failed handshake's error quotes the URL, key included: mask both.
                log.warning("websocket lost; reconnecting", extra={
                    "endpoint": mask_url(url),
                    "error": redact_text(f"{type(exc).__name__}: {exc}")})
            # A session that got its subscriptions was healthy: the next drop starts the backoff
            # afresh (else after six drops in a day every reconnect waited 6-13 s forever).
            self.failures = 1 if self.connected.is_set() else self.failures + 1
            self.connected.clear()
            WS_RECONNECTS.labels(CHAIN).inc()
            turn += 1
            await self.sleep(min(self.max_backoff_s, 0.2 * 2 ** min(self.failures, 6))
                                * random.uniform(0.5, 1.0))

    async def _session(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Subscribe, then read. The first full set of subscriptions starts a backfill of every
        account; an account subscribed later in the session (a store added or re-pointed) gets
        a backfill of its own, since what it received before its subscription is found only
        there."""
        self.subscribed.clear()
        pending: dict[int, str] = {}
        await self._send(ws, "slotSubscribe", [], pending, "slot")
        backfills: set[asyncio.Task[None]] = set()
        backfilled: set[str] = set()
        try:
            while True:
                for account in self.accounts - set(self.subscribed.values()) \
                        - set(pending.values()):
                    await self._send(ws, "logsSubscribe", [{"mentions": [account]},
                                                           {"commitment": self.commitment}],
                                     pending, account)
                fresh = set(self.subscribed.values()) - backfilled
                if fresh and (backfilled or not pending):
                    self.connected.set()
                    backfilled |= fresh
                    backfills.add(asyncio.create_task(self.on_connected(fresh)))
                _reap(backfills)
                msg = await self._receive(ws)
                self._handle(json.loads(msg), pending)
        finally:
            for task in backfills:
                task.cancel()

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        try:
            msg = await ws.receive(timeout=self.idle_s)
        except TimeoutError:
            raise StreamStalled(f"no message for {self.idle_s} s") from None
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
            raise aiohttp.ClientConnectionError(f"websocket closed ({msg.type.name})")
        return str(msg.data)

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, method: str, params: list[Any],
                    pending: dict[int, str], account: str) -> None:
        self._next_id += 1
        pending[self._next_id] = account
        await ws.send_json({"jsonrpc": "2.0", "id": self._next_id, "method": method,
                            "params": params})

    def _handle(self, message: Any, pending: dict[int, str]) -> None:
        if not isinstance(message, dict):
            return
        if "id" in message and message["id"] in pending:
            account = pending.pop(message["id"])
            if "result" in message and account != "slot":
                self.subscribed[int(message["result"])] = account
            elif "error" in message:
                log.error("subscription refused", extra={"account": account,
                                                          "error": message["error"]})
            return
        if message.get("method") == "slotNotification":
            with contextlib.suppress(KeyError, TypeError, ValueError):
                self.last_slot = int(message["params"]["result"]["slot"])
            return
        if message.get("method") != "logsNotification":
            return
        try:
            value = message["params"]["result"]["value"]
            signature = str(value["signature"])
        except (KeyError, TypeError):
            log.warning("ignored a malformed logs notification")
            return
        NOTIFICATIONS.labels(CHAIN).inc()
        self.on_signature(signature)


def _reap(tasks: set[asyncio.Task[None]]) -> None:
    """Drop finished backfills, surfacing an unexpected error rather than leaving it unread
    (the backfill itself retries what is expected: RPC and database outages)."""
    for task in [t for t in tasks if t.done()]:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
