"""A local HTTP server speaking CoinGecko's, Kraken's and our CFV service's response formats
(the only part of pricing that cannot run here for real), and a clock tests move by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Answer:
    """What one route answers: a JSON body, or raw text with a status; optionally late."""

    body: Any = None
    raw: str | None = None
    status: int = 200
    delay: float = 0.0
    content_type: str = "application/json"


def kraken_ticker(key: str, last: str) -> dict[str, Any]:
    """Kraken's real Ticker shape: a = ask, b = bid, c = last trade [price, lot volume], ..."""
    return {"error": [], "result": {key: {
        "a": [last, "12", "12.000"], "b": [last, "3", "3.000"], "c": [last, "0.50000000"],
        "v": ["1000.1", "2000.2"], "p": [last, last], "t": [100, 200],
        "l": [last, last], "h": [last, last], "o": last}}}


class FakeProviders:
    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {
            "coingecko": Answer({"solana": {"usd": 152.5}}),
            "kraken": Answer(kraken_ticker("SOLUSD", "149.00")),
            "cfv": Answer({"asset": "SOL", "currency": "USD", "fair_value": "250"}),
        }
        self.hits: dict[str, int] = {"coingecko": 0, "kraken": 0, "cfv": 0}
        self.queries: dict[str, list[dict[str, str]]] = {"coingecko": [], "kraken": [],
                                                         "cfv": []}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v3/simple/price", self._route("coingecko"))
        app.router.add_get("/0/public/Ticker", self._route("kraken"))
        app.router.add_get("/cfv", self._route("cfv"))
        return app

    def _route(self, name: str) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.hits[name] += 1
            self.queries[name].append(dict(request.query))
            answer = self.answers[name]
            if answer.delay:
                await asyncio.sleep(answer.delay)
            if answer.raw is not None:
                return web.Response(text=answer.raw, status=answer.status,
                                    content_type=answer.content_type)
            return web.json_response(answer.body, status=answer.status)
        return handle


@dataclass
class Providers:
    fake: FakeProviders
    base: str

    @property
    def coingecko_url(self) -> str:
        return f"{self.base}/api/v3/simple/price"

    @property
    def kraken_url(self) -> str:
        return f"{self.base}/0/public/Ticker"

    @property
    def cfv_url(self) -> str:
        return f"{self.base}/cfv"


@pytest.fixture
async def providers() -> AsyncIterator[Providers]:
    fake = FakeProviders()
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    yield Providers(fake, str(server.make_url("")).rstrip("/"))
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    return Clock()
