"""New heads over WebSocket: `eth_subscribe newHeads` wakes the follower the moment a block
arrives, and a `logs` subscription on the configured tokens passes on logs the node marks
`removed: true` (a reorg took them out). The follower also polls, so a dead socket only costs
latency; every (re)connect wakes it, and it catches up from the database's tip.

Garbage on the socket (non-JSON, wrong shapes) is logged and skipped: it never stops the
stream. Silence longer than `idle_s` counts as a stall and reconnects."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

import aiohttp

from paywatch.core.evm import TRANSFER_TOPIC
from paywatch.core.metrics import NOTIFICATIONS, WS_RECONNECTS
from paywatch.core.redact import mask_url, redact_text
from watcher.evm.chain import Seen, parse_logs

log = logging.getLogger("paywatch.watcher.evm.heads")


class HeadStream:
    def __init__(self, chain: str, urls: list[str], session: aiohttp.ClientSession,
                 tokens: list[str], on_head: Callable[[], None],
                 on_removed: Callable[[Seen], None], *, idle_s: float = 120.0,
                 max_backoff_s: float = 15.0) -> None:
        self.chain, self.urls, self.session, self.tokens = chain, urls, session, tokens
        self.on_head, self.on_removed = on_head, on_removed
        self.idle_s, self.max_backoff_s = idle_s, max_backoff_s

    async def run(self) -> None:
        attempt = 0
        while True:
            url = self.urls[attempt % len(self.urls)]
            try:
                async with self.session.ws_connect(url, heartbeat=30.0) as ws:
                    await self._subscribe(ws)
                    attempt = 0
                    self.on_head()  # catch up on whatever happened while disconnected
                    await self._read(ws)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                # A failed handshake's error quotes the URL, key included: mask both.
                log.warning("websocket lost; reconnecting", extra={
                    "chain": self.chain, "endpoint": mask_url(url),
                    "error": redact_text(f"{type(exc).__name__}: {exc}")})
            WS_RECONNECTS.labels(self.chain).inc()
            attempt += 1
            await asyncio.sleep(min(self.max_backoff_s, 0.2 * 2 ** min(attempt, 6))
                                * random.uniform(0.5, 1.0))

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                            "params": ["newHeads"]})
        if self.tokens:
            await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe",
                                "params": ["logs", {"address": self.tokens,
                                                    "topics": [TRANSFER_TOPIC]}]})

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            try:
                msg = await ws.receive(timeout=self.idle_s)
            except TimeoutError:
                raise TimeoutError(f"no message for {self.idle_s} s") from None
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise aiohttp.ClientConnectionError(f"websocket closed ({msg.type.name})")
            self._handle(msg.data)

    def _handle(self, text: str) -> None:
        message: Any = None
        try:
            message = json.loads(text)
        except ValueError:
            log.warning("ignored a frame that is not JSON", extra={"chain": self.chain})
            return
        params = message.get("params") if isinstance(message, dict) else None
        if isinstance(message, dict) and "error" in message:
            log.error("subscription refused", extra={"chain": self.chain,
                                                      "error": str(message["error"])[:200]})
            return
        if not isinstance(params, dict) or not isinstance(params.get("result"), dict):
            return  # subscription acknowledgements, and garbage
        result = params["result"]
        NOTIFICATIONS.labels(self.chain).inc()
        if "topics" not in result:
            self.on_head()
            return
        try:
            seen = parse_logs([result])
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed log notification", extra={"chain": self.chain})
            return
        for s in seen:
            if s.removed:
                self.on_removed(s)

