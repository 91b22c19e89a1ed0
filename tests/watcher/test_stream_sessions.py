"""The Solana watcher's WebSocket sessions: what a reconnect and a later subscription must do so
that no payment is missed and no reconnect waits longer than it should."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from solders.keypair import Keypair

from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import make_store
from tests.watcher.harness import Harness, harness, until

NEVER_S = 3600.0  # a periodic task the test runs by hand instead


@pytest.fixture
async def h(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
            wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, api, await make_store(pool, "streamshop"), wallet) as hh:
        yield hh


async def test_a_store_watched_after_start_gets_what_it_was_paid_before_its_subscription(
        h: Harness) -> None:
    # No refresh but the one below: neither periodic nor woken by the new store (NOTIFY).
    watcher = await h.start_watcher(accounts_s=NEVER_S, follow_stores=False)
    # A second store, created while the watcher runs; its wallet is not watched yet.
    other = Keypair()
    await h.wallet.airdrop(other.pubkey(), 10**9)
    headers, _store = await make_store(h.pool, "latecomer", recipient=str(other.pubkey()))
    resp = await h.api.post("/v1/payments", headers=headers, json={
        "amount": "30", "currency": "USD", "asset": "SOL"})
    payment = await resp.json()
    # Paid before the watcher subscribes to the new wallet: no notification can carry it.
    await h.wallet.pay(payment["payment_request"]["url"])
    await watcher.refresh_accounts()
    await until(lambda: str(other.pubkey()) in watcher.stream.subscribed.values(),
                "the new wallet's subscription")
    row = await h.wait_for(payment["id"], "confirmed")
    assert row["amount_received"] == int(payment["amount_due"])


async def test_a_new_store_is_watched_on_its_notification_without_a_periodic_refresh(
        h: Harness) -> None:
    watcher = await h.start_watcher(accounts_s=NEVER_S)  # only migration 0013's NOTIFY helps
    await until(lambda: bool(watcher.stream.subscribed), "the first store's subscriptions")
    other = Keypair()
    await h.wallet.airdrop(other.pubkey(), 10**9)
    headers, _store = await make_store(h.pool, "noticed", recipient=str(other.pubkey()))
    await until(lambda: str(other.pubkey()) in watcher.stream.subscribed.values(),
                "the new wallet's subscription")
    resp = await h.api.post("/v1/payments", headers=headers, json={
        "amount": "30", "currency": "USD", "asset": "SOL"})
    payment = await resp.json()
    await h.wallet.pay(payment["payment_request"]["url"])
    row = await h.wait_for(payment["id"], "confirmed")
    assert row["amount_received"] == int(payment["amount_due"])


async def test_the_reconnect_backoff_starts_afresh_after_a_healthy_session(h: Harness) -> None:
    watcher = await h.start_watcher()
    asked: list[float] = []

    async def recorded_sleep(seconds: float) -> None:
        asked.append(seconds)
        await asyncio.sleep(0)  # reconnect at once: the test is about what was asked

    watcher.stream.sleep = recorded_sleep
    for drop in range(1, 9):
        await h.sim.control({"action": "close_websockets"})
        await until(lambda n=drop: len(asked) >= n and watcher.stream.connected.is_set(),
                    f"reconnect {drop}")
    # Every drop followed a healthy session, so each wait is the first step of the backoff
    # (0.4 s at most), never the 6-13 s of a long run of failures.
    assert len(asked) == 8
    assert max(asked) <= 0.4, asked
