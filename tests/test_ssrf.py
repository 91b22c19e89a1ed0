"""Webhook SSRF: the address policy, DNS rebinding against a real loopback receiver, refusals
that say nothing about the inside, and a resolver that hangs. DNS answers come from a fake
`getaddrinfo` on the running loop (what aiohttp's and our resolution both call)."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from db import events
from paywatch.core import ssrf
from paywatch.core.ssrf import UnsafeUrl, check_url
from tests.test_webhook_delivery import Clock, Receiver, endpoint
from watcher.webhooks import Dispatcher

PUBLIC = "93.184.215.14"


class FakeDns:
    """Answers `names` from successive answer lists (the last one repeats); counts lookups.
    A name mapped to None never answers (a hung resolver)."""

    def __init__(self, names: dict[str, list[list[str]] | None]) -> None:
        self.names, self.lookups = names, Counter[str]()
        self.real = asyncio.get_running_loop().getaddrinfo
        self.never = asyncio.Event()

    async def getaddrinfo(self, host: Any, port: Any, **kwargs: Any) -> list[Any]:
        if host not in self.names:
            return await self.real(host, port, **kwargs)
        self.lookups[host] += 1
        answers = self.names[host]
        if answers is None:
            await self.never.wait()
            raise AssertionError("unreachable")
        addresses = answers[min(self.lookups[host], len(answers)) - 1]
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, int(port or 0), 0, 0))
                if ":" in a else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port or 0)))
                for a in addresses]


@asynccontextmanager
async def strict_dispatcher(pool: asyncpg.Pool, **kwargs: Any) -> AsyncIterator[Dispatcher]:
    """A dispatcher under the production policy, with its own (pinned) delivery session."""
    async with Dispatcher(pool, allow_private=False, clock=Clock(), **kwargs) as dispatcher:
        yield dispatcher


def fake_dns(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[list[str]] | None],
             ) -> FakeDns:
    dns = FakeDns(names)
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", dns.getaddrinfo)
    return dns


@pytest.fixture
async def loopback() -> AsyncIterator[tuple[Receiver, int]]:
    """A receiver on 127.0.0.1 that answers 204: a service inside that must never be reached."""
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield rec, int(server.port or 0)
    await server.close()


@pytest.mark.parametrize("address", [
    "100.100.100.200", "100.64.0.1",            # carrier-grade NAT (cloud metadata lives here)
    "[2002:7f00:1::1]", "[2002:5db8:d70e::1]",  # 6to4, embedding loopback and a public address
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",   # Teredo
    "[64:ff9b::7f00:1]", "[::7f00:1]",          # NAT64 and IPv4-compatible, embedding loopback
    "[::ffff:100.100.100.200]", "224.0.0.1", "[ff0e::1]", "0.0.0.0",  # noqa: S104
    "240.0.0.1"])
async def test_addresses_that_are_not_global_unicast_are_refused(address: str) -> None:
    with pytest.raises(UnsafeUrl, match="private, loopback or link-local"):
        await check_url(f"http://{address}/hook", allow_private=False)


@pytest.mark.parametrize("address", [PUBLIC, "[2606:4700:4700::1111]", "[64:ff9b::5db8:d70e]",
                                     "[::ffff:93.184.215.14]"])
async def test_public_addresses_are_accepted(address: str) -> None:
    await check_url(f"http://{address}/hook", allow_private=False)


async def test_a_name_with_any_private_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"mixed.paywatch.test": [[PUBLIC, "100.100.100.200"]]})
    with pytest.raises(UnsafeUrl, match="private, loopback or link-local"):
        await check_url("https://mixed.paywatch.test/hook", allow_private=False)


async def test_dns_rebinding_never_reaches_the_loopback_receiver(
        pool: asyncpg.Pool, loopback: tuple[Receiver, int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The name answers a public address first and 127.0.0.1 after: the delivery connects to
    the address it checked (or nowhere), never to what a second lookup says."""
    rec, port = loopback
    name = "rebind.paywatch.test"
    dns = fake_dns(monkeypatch, {name: [[PUBLIC], ["127.0.0.1"]]})
    store = await endpoint(pool, f"http://{name}:{port}/hook")
    async with pool.acquire() as conn:
        await events.emit(conn, store_id=store["id"], type_="payment.confirmed", data={})
    async with strict_dispatcher(pool, timeout_s=2.0) as strict:
        assert await strict.run_once() == 1
    assert rec.calls == 0
    assert dns.lookups[name] == 1  # one lookup per connection: the one that was checked
    row = await pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert (row["status"], row["last_status_code"]) == ("pending", None)


async def test_a_refusal_is_the_same_whether_or_not_something_listens_inside(
        pool: asyncpg.Pool, loopback: tuple[Receiver, int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two names pointing inside, one at a live service and one at a closed port: the recorded
    outcomes (what the API shows) are identical and name neither host nor address."""
    rec, port = loopback
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: nothing answers there
    closed_port = closed.getsockname()[1]
    fake_dns(monkeypatch, {"live.paywatch.test": [["127.0.0.1"]],
                           "dead.paywatch.test": [["127.0.0.1"]]})
    live = await endpoint(pool, f"http://live.paywatch.test:{port}/hook", slug="live")
    dead = await endpoint(pool, f"http://dead.paywatch.test:{closed_port}/hook", slug="dead")
    async with pool.acquire() as conn:
        for store in (live, dead):
            await events.emit(conn, store_id=store["id"], type_="payment.confirmed", data={})
    try:
        async with strict_dispatcher(pool) as strict:
            assert await strict.run_once() == 2
    finally:
        closed.close()
    rows = await pool.fetch("SELECT status, last_status_code, last_error FROM webhook_deliveries")
    assert [tuple(r) for r in rows] == [("pending", None, "refused by policy")] * 2
    assert rec.calls == 0


async def test_a_hung_resolver_is_a_refusal_not_a_stuck_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"hangs.paywatch.test": None})
    monkeypatch.setattr(ssrf, "RESOLVE_TIMEOUT_S", 0.05, raising=False)
    async with asyncio.timeout(30):  # a bound for the old, unbounded lookup; never reached now
        with pytest.raises(UnsafeUrl):
            await check_url("https://hangs.paywatch.test/hook", allow_private=False)


async def test_a_hung_resolver_does_not_stick_the_dispatcher(
        pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"hangs.paywatch.test": None})
    monkeypatch.setattr(ssrf, "RESOLVE_TIMEOUT_S", 0.05, raising=False)
    store = await endpoint(pool, "https://hangs.paywatch.test/hook")
    async with pool.acquire() as conn:
        await events.emit(conn, store_id=store["id"], type_="payment.confirmed", data={})
    async with asyncio.timeout(30), strict_dispatcher(pool) as strict:
        assert await strict.run_once() == 1
    row = await pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert (row["status"], row["last_error"]) == ("pending", "refused by policy")
