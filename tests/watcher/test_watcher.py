"""The Solana watcher end to end: payments made through the API, paid on simnet by a wallet,
confirmed (or not) by a real watcher task on real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import make_store
from tests.watcher.harness import Harness, harness


@pytest.fixture
async def h(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
            wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, api, await make_store(pool, "chainshop"), wallet) as hh:
        yield hh


async def test_sol_and_usdc_paid_exactly_are_confirmed(h: Harness) -> None:
    await h.start_watcher()
    sol = await h.create("30", memo="ORD-1")
    usdc = await h.create("19.99", "USDC")
    await h.wallet.pay(sol["payment_request"]["url"])
    await h.wallet.pay(usdc["payment_request"]["url"])
    for payment in (sol, usdc):
        row = await h.wait_for(payment["id"], "confirmed")
        assert row["exception"] is None
        assert row["amount_received"] == int(payment["amount_due"])
    events = await h.pool.fetch("SELECT type FROM events WHERE payment_id = $1 ORDER BY seq",
                                (await h.payment(sol["id"]))["id"])
    assert [e["type"] for e in events] == ["payment.created", "payment.confirmed"]
    await h.wait_for(sol["id"], "confirmed")
    # and the transfers are followed to finalized by the tracker
    for _ in range(200):
        statuses = {t["status"] for t in await h.transfers(sol["id"])}
        if statuses == {"finalized"}:
            break
        await h.sim.wait_slots(1)
    assert statuses == {"finalized"}
