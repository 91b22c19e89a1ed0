"""New heads over WebSocket: `eth_subscribe newHeads` wakes the follower the moment a block
arrives, and a `logs` subscription on the configured tokens passes on logs the node marks
`removed: true` (a reorg took them out). The follower also polls, so a dead socket only costs
latency; every (re)connect wakes it, and it catches up from the database's tip.

Garbage on the socket (non-JSON, wrong shapes) is logged and skipped: it never stops the
stream. Silence longer than `idle_s` counts as a stall and reconnects."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from paywatch.core.evm import TRANSFER_TOPIC
from paywatch.core.metrics import NOTIFICATIONS
from watcher.evm.chain import Seen, parse_logs
from watcher.ws import Reconnecting, receive

log = logging.getLogger("paywatch.watcher.evm.heads")


class HeadStream:
    def __init__(self, chain: str, urls: list[str], session: aiohttp.ClientSession,
                 tokens: list[str], on_head: Callable[[], None],
                 on_removed: Callable[[Seen], None], *, idle_s: float = 120.0,
                 max_backoff_s: float = 15.0) -> None:
        self.chain, self.urls, self.session, self.tokens = chain, urls, session, tokens
        self.on_head, self.on_removed = on_head, on_removed
        self.idle_s = idle_s
        self.socket = Reconnecting(chain, urls, session, self._session, heartbeat_s=30.0,
                                   max_backoff_s=max_backoff_s)

    async def run(self) -> None:
        await self.socket.run()

    async def _session(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await self._subscribe(ws)
        self.socket.healthy()
        self.on_head()  # catch up on whatever happened while disconnected
        while True:
            self._handle(await receive(ws, self.idle_s))

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                            "params": ["newHeads"]})
        if self.tokens:
            await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe",
                                "params": ["logs", {"address": self.tokens,
                                                    "topics": [TRANSFER_TOPIC]}]})

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

