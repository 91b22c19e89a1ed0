"""A node that answers JSON-RPC with results of the wrong shape is a failing node: the watcher
asks the next one, keeps running, and detects and finalizes payments as usual."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import make_store
from tests.watcher.harness import Harness, harness
from watcher.rpc import RpcPool
from watcher.solana import answers

# What a confused node or proxy might send: valid JSON-RPC, a result of another shape.
WRONG = {"getSlot": "latest", "getSignaturesForAddress": {"signatures": []},
         "getSignatureStatuses": {"context": {"slot": 1}},
         "getTransaction": {"slot": 5, "transaction": "AQID"},
         "getAccountInfo": {"context": {"slot": 1}}}


@pytest.fixture
async def wrong_node() -> AsyncIterator[tuple[TestServer, list[str]]]:
    asked: list[str] = []

    async def rpc(request: web.Request) -> web.Response:
        body = await request.json()
        asked.append(body["method"])
        return web.json_response({"jsonrpc": "2.0", "id": body["id"],
                                  "result": WRONG.get(body["method"], [1, 2, 3])})

    app = web.Application()
    app.router.add_post("/", rpc)
    async with TestServer(app) as server:
        yield server, asked


@pytest.fixture
async def h(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
            wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, api, await make_store(pool, "shapeshop"), wallet) as hh:
        yield hh


async def test_wrong_shaped_answers_fail_over_and_the_watcher_keeps_running(
        h: Harness, wrong_node: tuple[TestServer, list[str]]) -> None:
    server, asked = wrong_node
    watcher = await h.start_watcher(rpc_urls=[str(server.make_url("/")), h.sim.rpc_url])
    assert h.task is not None
    payment = await h.create()
    await h.wallet.pay(payment["payment_request"]["url"])
    await h.wait_for(payment["id"], "confirmed")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while {t["status"] for t in await h.transfers(payment["id"])} != {"finalized"}:
        assert not h.task.done(), h.task.exception()
        assert loop.time() < deadline, "timed out waiting for finalization"
        await asyncio.sleep(0.05)
    # The wrong node was asked (it is first in line; after three wrong answers its breaker
    # skips it for a while) and its answers cost nothing but a retry.
    assert set(asked) & set(WRONG), asked
    assert not h.task.done(), h.task.exception()
    await watcher.measure_lag()  # a wrong slot from the first node: the next one answers


@pytest.mark.parametrize(("method", "params", "parse"), [
    ("getSlot", [], answers.slot),
    ("getSignaturesForAddress", ["11111111111111111111111111111111", {"limit": 1}],
     answers.signatures),
    ("getSignatureStatuses", [["1" * 64]], answers.statuses(1)),
    ("getTransaction", ["1" * 64, {"encoding": "json"}], answers.transaction),
    ("getAccountInfo", ["11111111111111111111111111111111"], answers.account_info),
])
async def test_each_solana_answer_of_the_wrong_shape_is_asked_again_elsewhere(
        sim: SimnetServer, wrong_node: tuple[TestServer, list[str]], method: str,
        params: list[object], parse: Callable[[Any], Any]) -> None:
    server, asked = wrong_node
    async with aiohttp.ClientSession() as session:
        pool = RpcPool([str(server.make_url("/")), sim.rpc_url], session, backoff_s=0.01)
        good = await RpcPool([sim.rpc_url], session).call(method, params)
        assert await pool.call(method, params, parse=parse) == parse(good)
    assert asked == [method]
    assert pool.endpoints[0].failures == 1
