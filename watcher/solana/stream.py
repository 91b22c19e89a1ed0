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
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp

from paywatch.core.metrics import NOTIFICATIONS
from watcher.ws import Reconnecting, receive

log = logging.getLogger("paywatch.watcher.solana.stream")
CHAIN = "solana"


class LogStream:
    def __init__(self, urls: list[str], session: aiohttp.ClientSession, commitment: str,
                 on_signature: Callable[[str], None],
                 on_connected: Callable[[set[str]], Coroutine[Any, Any, None]], *,
                 idle_s: float = 60.0,
                 heartbeat_s: float = 60.0, max_backoff_s: float = 15.0) -> None:
        self.commitment, self.idle_s = commitment, idle_s
        self.on_signature, self.on_connected = on_signature, on_connected
        self.accounts: set[str] = set()
        self.subscribed: dict[int, str] = {}
        self.connected = asyncio.Event()
        self.last_slot = 0  # the newest slot the WebSocket announced
        self._next_id = 0
        self.socket = Reconnecting(CHAIN, urls, session, self._connected_session,
                                   heartbeat_s=heartbeat_s, max_backoff_s=max_backoff_s)

    @property
    def sleep(self) -> Callable[[float], Awaitable[None]]:
        """The backoff's wait (tests record what it asks for)."""
        return self.socket.sleep

    @sleep.setter
    def sleep(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        self.socket.sleep = sleep

    async def run(self) -> None:
        await self.socket.run()

    async def _connected_session(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            await self._session(ws)
        finally:
            self.connected.clear()

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
                    self.socket.healthy()
                    backfilled |= fresh
                    backfills.add(asyncio.create_task(self.on_connected(fresh)))
                _reap(backfills)
                msg = await receive(ws, self.idle_s)
                self._handle(json.loads(msg), pending)
        finally:
            for task in backfills:
                task.cancel()

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
