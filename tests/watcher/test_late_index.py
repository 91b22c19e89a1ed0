"""A payment the watcher's index learned of late (its refresh failed) is still detected: before
a transfer into a watched account goes to the inbox, the watcher asks the table, not its index,
whether a watched payment has one of its keys as reference (or asks its unique amount)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import make_store
from tests.watcher.harness import Harness, harness, until

NEVER_S = 3600.0  # periodic work the test runs by hand


@pytest.fixture
async def h(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
            wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, api, await make_store(pool, "lateshop"), wallet) as hh:
        yield hh


async def test_a_payment_the_index_does_not_know_yet_is_found_in_the_table(
        h: Harness) -> None:
    watcher = await h.start_watcher(resync_s=NEVER_S, tracker_interval_s=NEVER_S)
    # Near expiry from the start, so that reconciliation looks its reference up.
    payment = await h.create(expires_in=60)
    reference = payment["payment_request"]["reference"]
    await until(lambda: watcher.index.lookup(reference) is not None, "the index entry")
    # What a failed refresh leaves behind: the index does not know the payment yet.
    watcher.index.forget(reference)
    signature = await h.wallet.pay(payment["payment_request"]["url"])
    await until(lambda: str(signature) in watcher.done, "the transaction to be processed")
    row = await h.wait_for(payment["id"], "confirmed")
    assert row["amount_received"] == int(payment["amount_due"])
    assert await h.pool.fetchval("SELECT count(*) FROM transfers WHERE tx_id = $1 "
                                 "AND unmatched_reason IS NOT NULL", signature) == 0


async def test_a_payment_indexed_by_its_notification_meanwhile_is_still_matched(
        h: Harness) -> None:
    """The race behind payments left pending in the suite now and then: the transaction was
    matched before the notification indexed its payment, then the table was asked after it
    had. The table's answer must send the caller back to matching, not to the inbox."""
    watcher = await h.start_watcher(resync_s=NEVER_S, tracker_interval_s=NEVER_S)
    payment = await h.create()
    reference = payment["payment_request"]["reference"]
    await until(lambda: watcher.index.lookup(reference) is not None, "the index entry")
    async with h.pool.acquire() as conn:
        assert await watcher.index.learn(conn, [reference], str(h.merchant.pubkey()), None,
                                         int(payment["amount_due"]))
