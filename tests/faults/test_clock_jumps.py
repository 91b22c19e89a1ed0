"""Clock jumps. Quotes: after the process clock jumps forward past the staleness limit no stale
price is used; after it jumps back, a cached price "from the future" is not trusted as fresh
(its real age is unknown) but read again. Expiry: payment clocks come from the database's clock,
so a process whose clock is off neither shortens nor stretches a payment's lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from paywatch.core.pricing.errors import PriceUnavailable
from tests.pricing.conftest import Answer, Clock, Providers
from tests.pricing.test_prices import book


async def test_forward_jump_past_the_staleness_limit_never_quotes_a_stale_price(
        providers: Providers, session: aiohttp.ClientSession, clock: Clock) -> None:
    prices = book(session, providers, clock, static=None)
    await prices.price("SOL", "USD")
    broken = Answer(raw="<html>502</html>", content_type="text/html")
    providers.fake.answers["coingecko"] = providers.fake.answers["kraken"] = broken
    clock.now += timedelta(hours=3)  # NTP step, VM resume
    with pytest.raises(PriceUnavailable):
        await prices.price("SOL", "USD")


async def test_backward_jump_refetches_instead_of_trusting_a_price_from_the_future(
        providers: Providers, session: aiohttp.ClientSession, clock: Clock) -> None:
    prices = book(session, providers, clock, static=None)
    await prices.price("SOL", "USD")
    assert providers.fake.hits["coingecko"] == 1
    clock.now -= timedelta(hours=1)
    providers.fake.answers["coingecko"] = Answer({"solana": {"usd": 160}})
    price = await prices.price("SOL", "USD")
    assert providers.fake.hits["coingecko"] == 2  # read again, not served from the cache
    assert price.at <= clock.now
    only = [o for o in price.observations if o.source == "coingecko"]
    assert only[0].price == 160


async def test_payment_clocks_come_from_the_database(api: TestClient, merchant: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import api.payments as handlers

    class Skewed(datetime):
        @classmethod
        def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
            return datetime.now(UTC) - timedelta(hours=2)  # this process's clock is behind

    # Were the handler to read its own clock again, this skew would show in expires_at.
    monkeypatch.setattr(handlers, "datetime", Skewed, raising=False)
    resp = await api.post("/v1/payments", headers=merchant, json={
        "amount": "10", "currency": "USD", "asset": "SOL", "expires_in": 600})
    assert resp.status == 201, await resp.text()
    payment = await resp.json()
    created = datetime.fromisoformat(payment["created_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(payment["expires_at"].replace("Z", "+00:00"))
    assert timedelta(seconds=599) <= expires - created <= timedelta(seconds=601)


