"""Checkout event streams: a hung-up stream frees its slot at once, and one client address or
one payment cannot take every slot (429 with Retry-After beyond its share)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import build_app
from api.checkout import routes
from api.checkout.hub import CheckoutHub
from api.checkout.routes import CHECKOUT_HUB
from paywatch.chains import build_chains
from paywatch.core.settings import Settings
from tests.checkout.test_page import create_payment
from tests.conftest import api_client, free_port


async def until(condition: Callable[[], bool], bound_s: float = 10.0) -> None:
    """Wait for a condition, bounded (the bound is a failure, not a duration under test)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound_s
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def open_stream(api: TestClient, payment_id: str,
                      headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
    resp = await api.get(f"/pay/{payment_id}/events", headers=headers or {})
    if resp.status == 200:
        await resp.content.readuntil(b"\n\n")   # the first event: the stream is counted
    return resp


@pytest.fixture(autouse=True)
def no_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    # No heartbeat write for an hour: a freed slot can only come from noticing the hang-up.
    monkeypatch.setattr(routes, "HEARTBEAT_S", 3600.0)


@pytest.fixture
async def streams() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def test_a_client_gets_its_share_of_streams_then_429(
        api: TestClient, merchant: dict[str, str], streams: AsyncExitStack) -> None:
    hub: CheckoutHub = api.server.app[CHECKOUT_HUB]
    hub.max_per_client, hub.max_per_payment = 4, 2
    payments = [await create_payment(api, merchant) for _ in range(3)]
    for n in range(4):
        resp = await open_stream(api, payments[n // 2]["id"])
        streams.callback(resp.close)
        assert resp.status == 200
    assert hub.streams == 4
    refused = await open_stream(api, payments[2]["id"])
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "30"
    assert "per client" in await refused.text()
    assert hub.streams == 4


async def test_a_payment_gets_its_share_of_streams_then_429(
        api: TestClient, merchant: dict[str, str], streams: AsyncExitStack) -> None:
    hub: CheckoutHub = api.server.app[CHECKOUT_HUB]
    hub.max_per_payment = 3
    payment = await create_payment(api, merchant)
    for _ in range(3):
        streams.callback((await open_stream(api, payment["id"])).close)
    refused = await open_stream(api, payment["id"])
    assert refused.status == 429
    assert "one payment" in await refused.text()
    other = await open_stream(api, (await create_payment(api, merchant))["id"])
    streams.callback(other.close)
    assert other.status == 200                 # another payment still gets a stream


@pytest.fixture
async def served(settings: Settings,
                 pool: asyncpg.Pool) -> AsyncIterator[tuple[web.Application, str]]:
    """The app served as `paywatch run` serves it: aiohttp's own AppRunner, which (unlike the
    TestServer) does not cancel a handler when its client hangs up."""
    app = build_app(settings, pool, chains=build_chains(settings))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_closed_stream_frees_its_slot_at_once(
        served: tuple[web.Application, str], merchant: dict[str, str]) -> None:
    app, base = served
    hub: CheckoutHub = app[CHECKOUT_HUB]
    hub.max_streams = 1
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{base}/v1/payments", headers=merchant,
                               json={"amount": "30.00", "currency": "USD", "asset": "SOL"})
        payment_id = (await resp.json())["id"]
        first = await http.get(f"{base}/pay/{payment_id}/events")
        await first.content.readuntil(b"\n\n")
        assert hub.streams == 1
        first.close()                              # the customer closes the tab
        await until(lambda: hub.streams == 0)      # long before any heartbeat would write
        async with http.get(f"{base}/pay/{payment_id}/events") as again:
            assert again.status == 200


async def test_behind_a_proxy_the_configured_header_names_the_client(
        pool: asyncpg.Pool, merchant: dict[str, str], streams: AsyncExitStack) -> None:
    async with api_client(pool, client_ip_header="X-Forwarded-For") as api:
        hub: CheckoutHub = api.server.app[CHECKOUT_HUB]
        hub.max_per_client = 1
        payment = await create_payment(api, merchant)
        # The last entry is the proxy's own; the first is whatever the client claimed.
        ada = await open_stream(api, payment["id"], {"X-Forwarded-For": "1.1.1.1, 203.0.113.7"})
        streams.callback(ada.close)
        bob = await open_stream(api, payment["id"], {"X-Forwarded-For": "198.51.100.9"})
        streams.callback(bob.close)
        again = await open_stream(api, payment["id"], {"X-Forwarded-For": "9.9.9.9, 203.0.113.7"})
        assert (ada.status, bob.status, again.status) == (200, 200, 429)
        await streams.aclose()
