"""SimnetServer: the ledger, its slot clock, the HTTP RPC and the WebSocket PubSub together.

    async with SimnetServer(slot_ms=50, rpc_port=0, ws_port=0) as sim:
        sim.rpc_url, sim.ws_url, sim.ledger, sim.faults
        sim.pause(); sim.advance(3); sim.resume()     # hold / move the slot clock
        await sim.control({"action": "drop", "signature": sig})  # also POST /_simnet/control
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from simnet.faults import Faults
from simnet.ledger import Ledger
from simnet.methods import Methods
from simnet.pubsub import PubSub
from simnet.rpc import build_rpc_app

log = logging.getLogger("simnet")


class SimnetServer:
    def __init__(self, host: str = "127.0.0.1", rpc_port: int = 8899, ws_port: int = 8900,
                 slot_ms: int = 400, confirm_depth: int = 1, finalize_depth: int = 32) -> None:
        self.host, self.rpc_port, self.ws_port, self.slot_ms = host, rpc_port, ws_port, slot_ms
        self.ledger = Ledger(confirm_depth=confirm_depth, finalize_depth=finalize_depth)
        self.faults = Faults()
        self.pubsub = PubSub(self.ledger)
        self._runners: list[web.AppRunner] = []
        self._clock: asyncio.Task[None] | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.rpc_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}"

    async def start(self) -> None:
        rpc_app = build_rpc_app(Methods(self.ledger), self.faults, self)
        ws_app = web.Application()
        ws_app.router.add_get("/", self.pubsub.handler)
        self.rpc_port = await self._serve(rpc_app, self.rpc_port)
        self.ws_port = await self._serve(ws_app, self.ws_port)
        self._clock = asyncio.create_task(self._tick(), name="simnet-slot-clock")
        log.info("simnet listening", extra={"rpc": self.rpc_url, "ws": self.ws_url,
                                            "slot_ms": self.slot_ms})

    async def _serve(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, self.host, port)
        await site.start()
        self._runners.append(runner)
        return int(runner.addresses[0][1])

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.slot_ms / 1000)
            self.ledger.advance()

    def pause(self) -> None:
        """Stop the slot clock: what landed stays at its commitment until resume() or
        advance(); tests use it to look at a `processed` transaction before it confirms."""
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None

    def resume(self) -> None:
        if self._clock is None:
            self._clock = asyncio.create_task(self._tick(), name="simnet-slot-clock")

    def advance(self, slots: int = 1) -> int:
        for _ in range(slots):
            self.ledger.advance()
        return self.ledger.slot

    async def stop(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None
        await self.pubsub.close_all()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> SimnetServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_slots(self, count: int) -> None:
        """Wait until `count` more slots were produced (tests use it instead of sleeping)."""
        reached = asyncio.Event()
        target = self.ledger.slot + count

        def on_slot(kind: str, slot: Any) -> None:
            if kind == "slot" and slot >= target:
                reached.set()

        self.ledger.listeners.append(on_slot)
        try:
            await reached.wait()
        finally:
            self.ledger.listeners.remove(on_slot)

    async def control(self, body: dict[str, Any]) -> Any:
        """The faults and controls tests drive, from this process or through HTTP
        (POST /_simnet/control on the RPC port, same body)."""
        action = body["action"]
        if action == "fail_next":
            self.faults.fail_next(int(body.get("count", 1)), str(body["kind"]))
            return len(self.faults.pending)
        if action == "clear_faults":
            self.faults.clear()
            return 0
        if action == "drop":
            return self.ledger.drop(str(body["signature"]))
        if action == "close_websockets":
            return await self.pubsub.close_all()
        if action == "stall_finalization":
            self.ledger.finalization_stalled = bool(body.get("stalled", True))
            return self.ledger.finalization_stalled
        return self._clock_control(action, body)

    def _clock_control(self, action: str, body: dict[str, Any]) -> Any:
        if action == "pause":
            self.pause()
        elif action == "resume":
            self.resume()
        elif action == "advance":
            return self.advance(int(body.get("slots", 1)))
        elif action != "status":
            raise KeyError(f"unknown action {action!r}")
        return {"slot": self.ledger.slot, "finalized": self.ledger.finalized_slot,
                "paused": self._clock is None, "pending_faults": len(self.faults.pending)}
