"""What an EVM node can get wrong: answering garbage (the watcher asks the next node and carries
on), announcing logs as `removed: true` (the transfer is reverted), a WebSocket that sends
garbage frames (skipped; the stream and the payments carry on), and refusing the debug method
a chain that traces needs (followed without traces)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from prometheus_client import REGISTRY

from tests.conftest import free_port
from tests.evm.conftest import DEPTH, EvmHarness

CALLS = web.AppKey("calls", list[str])
SESSION = web.AppKey("session", aiohttp.ClientSession)
GARBAGE = {
    "eth_getBlockByNumber": {"number": "0xnot-hex", "hash": "yes"},
    "eth_getLogs": "all of them",
    "eth_getTransactionReceipt": [1, 2, 3],
}


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _garbage_rpc(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[CALLS].append(body["method"])
    return web.json_response({"jsonrpc": "2.0", "id": body["id"],
                              "result": GARBAGE.get(body["method"], "0xzz")})


async def test_a_node_answering_garbage_is_skipped(evm: EvmHarness) -> None:
    app = web.Application()
    app[CALLS] = []
    app.router.add_post("/", _garbage_rpc)
    async with serve(app) as host:
        chain = evm.chain.model_copy(update={"rpc_urls": [f"http://{host}/", evm.anvil.url]})
        await evm.start_watcher(chain)
        payment = await evm.create("10", "ETH")
        await evm.pay(payment)
        await evm.anvil.mine(DEPTH)
        await evm.wait_for(payment["id"], "confirmed")
    assert "eth_getBlockByNumber" in app[CALLS]  # it was asked, and its answers refused
    assert evm.task is not None
    assert not evm.task.done()  # the watcher never stopped


class FakeSocket:
    """A node's WebSocket that acknowledges subscriptions and sends what the test queues."""

    def __init__(self) -> None:
        self.outbox: asyncio.Queue[str] = asyncio.Queue()
        self.subscribed = asyncio.Event()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        reader = asyncio.create_task(self._acknowledge(ws))
        sender = asyncio.create_task(self._send(ws))
        await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
        reader.cancel()
        sender.cancel()
        return ws

    async def _send(self, ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            await ws.send_str(await self.outbox.get())

    async def _acknowledge(self, ws: web.WebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                sub = json.loads(msg.data)
                await ws.send_json({"jsonrpc": "2.0", "id": sub["id"],
                                    "result": f"0x{sub['id']:x}"})
                self.subscribed.set()


async def test_removed_logs_revert_their_transfer(evm: EvmHarness) -> None:
    fake = FakeSocket()
    app = web.Application()
    app.router.add_get("/", fake.handle)
    async with serve(app) as host:
        chain = evm.chain.model_copy(update={"ws_urls": [f"ws://{host}/"]})
        await evm.start_watcher(chain)
        await asyncio.wait_for(fake.subscribed.wait(), 10)
        payment = await evm.create("10", "USDT")
        tx = await evm.pay(payment)
        await evm.wait_for(payment["id"], "detected")
        [log] = (await evm.anvil.receipt(tx))["logs"]
        for frame in ("not json", '{"params": {"result": 7}}', json.dumps(
                {"jsonrpc": "2.0", "method": "eth_subscription",
                 "params": {"subscription": "0x2", "result": log | {"removed": True}}})):
            await fake.outbox.put(frame)
        row = await evm.wait_for(payment["id"], "pending")
        await evm.stop_watcher()  # close our side before the fake node shuts down
    assert row["amount_received"] == 0
    [transfer] = await evm.transfers(payment["id"])
    assert transfer["status"] == "reverted"


async def test_a_node_without_the_debug_namespace_is_followed_without_traces(
        evm: EvmHarness, caplog: pytest.LogCaptureFixture) -> None:
    """A provider that refuses debug_* (-32601, method not found): the chain asked for traces,
    but the watcher says so once, shows it in /metrics, and keeps following; top-level
    payments still confirm."""
    async def proxy(request: web.Request) -> web.Response:
        body = await request.json()
        request.app[CALLS].append(body["method"])
        if body["method"].startswith("debug_"):
            return web.json_response({"jsonrpc": "2.0", "id": body["id"], "error": {
                "code": -32601, "message": f"the method {body['method']} does not exist"}})
        async with request.app[SESSION].post(evm.anvil.url, json=body) as resp:
            return web.json_response(await resp.json())

    app = web.Application()
    app[CALLS], app[SESSION] = [], evm.anvil.session
    app.router.add_post("/", proxy)
    async with serve(app) as host:
        chain = evm.chain.model_copy(update={"rpc_urls": [f"http://{host}/"],
                                             "trace_internal": True})
        await evm.start_watcher(chain)
        for amount in ("10", "20"):  # each pays in a block with a transaction: one to trace
            payment = await evm.create(amount, "ETH")
            await evm.pay(payment)
            await evm.anvil.mine(DEPTH)
            await evm.wait_for(payment["id"], "confirmed")
        await evm.stop_watcher()
    assert evm.watcher is not None
    assert evm.watcher.tracing is False
    assert app[CALLS].count("debug_traceBlockByHash") >= 1
    refused = [r for r in caplog.records if "does not serve debug_traceBlockByHash" in r.message]
    assert len(refused) == 1  # said once, not on every block
    assert REGISTRY.get_sample_value("paywatch_evm_tracing", {"chain": chain.name}) == 0
