"""The RPC pool against simnet's real fault modes: failover, breaker, garbage, definitive errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from simnet.server import SimnetServer
from watcher.rpc import RpcError, RpcPool, RpcUnavailable


@pytest.fixture
async def two() -> AsyncIterator[tuple[SimnetServer, SimnetServer]]:
    async with SimnetServer(rpc_port=0, ws_port=0, slot_ms=50) as a, \
            SimnetServer(rpc_port=0, ws_port=0, slot_ms=50) as b:
        yield a, b


@pytest.mark.parametrize("kind", ["http_429", "node_behind", "malformed"])
async def test_failover_to_the_next_endpoint(two: tuple[SimnetServer, SimnetServer],
                                             kind: str) -> None:
    primary, secondary = two
    primary.faults.fail_next(3, kind)
    async with aiohttp.ClientSession() as session:
        pool = RpcPool([primary.rpc_url, secondary.rpc_url], session, backoff_s=0.01)
        assert await pool.call("getHealth", []) == "ok"
        assert pool.endpoints[0].failures == 1
        assert len(primary.faults.pending) == 2


async def test_breaker_trips_and_recovers(two: tuple[SimnetServer, SimnetServer]) -> None:
    primary, secondary = two
    now = [0.0]
    primary.faults.fail_next(3, "http_429")
    async with aiohttp.ClientSession() as session:
        pool = RpcPool([primary.rpc_url, secondary.rpc_url], session, trip_after=3,
                       cooldown_s=30, backoff_s=0.01, clock=lambda: now[0])
        for _ in range(3):
            assert await pool.call("getHealth", []) == "ok"
        assert pool.endpoints[0].open_until == 30
        assert await pool.call("getHealth", []) == "ok"  # primary skipped while open
        now[0] = 31
        assert await pool.call("getHealth", []) == "ok"  # primary healthy again
        assert pool.endpoints[0].failures == 0
        # The three failures at t=0 count for the health report until they age out.
        assert pool.errors_within(60) == 3
        now[0] = 400
        assert pool.errors_within(300) == 0


async def test_timeouts_then_unavailable(two: tuple[SimnetServer, SimnetServer]) -> None:
    primary, _ = two
    primary.faults.timeout_s = 2
    primary.faults.fail_next(10, "timeout")
    async with aiohttp.ClientSession() as session:
        pool = RpcPool([primary.rpc_url], session, timeout_s=0.2, rounds=2, backoff_s=0.01)
        with pytest.raises(RpcUnavailable, match="getSlot failed on every endpoint"):
            await pool.call("getSlot", [])


async def test_definitive_errors_are_not_retried(two: tuple[SimnetServer, SimnetServer]) -> None:
    primary, secondary = two
    async with aiohttp.ClientSession() as session:
        pool = RpcPool([primary.rpc_url, secondary.rpc_url], session)
        with pytest.raises(RpcError) as err:
            await pool.call("getBalance", ["not-a-key"])
        assert err.value.code == -32602
        assert pool.endpoints[0].failures == 0
