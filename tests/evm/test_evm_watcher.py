"""EVM payments end to end on anvil: a payment created through the API, paid from an anvil
account, found by the watcher, confirmed at depth, and stepped back when a reorg orphans it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.evm.conftest import DEPTH, EvmHarness


async def test_token_payment_is_detected_then_confirmed_at_depth(evm: EvmHarness) -> None:
    await evm.start_watcher()
    payment = await evm.create("25", "USDT")
    request = payment["payment_request"]
    assert request["type"] == "eip681"
    assert request["amount"] == "25000000"
    tx = await evm.pay(payment)
    row = await evm.wait_for(payment["id"], "detected")
    assert row["amount_received"] == 0  # seen in a block, not deep enough yet
    await evm.anvil.mine(DEPTH - 2)
    await asyncio.sleep(0.5)
    assert (await evm.payment(payment["id"]))["status"] == "detected"  # depth 2 of 3
    await evm.anvil.mine(1)
    row = await evm.wait_for(payment["id"], "confirmed")
    assert row["amount_received"] == 25_000_000
    assert row["exception"] is None
    [transfer] = await evm.transfers(payment["id"])
    assert transfer["tx_id"] == tx
    assert transfer["asset"] == "USDT"
    assert transfer["mint"] == evm.usdt
    assert transfer["status"] == "confirmed"
    assert transfer["recipient"] == request["recipient"]
    events = await evm.pool.fetch("SELECT type FROM events WHERE payment_id = $1 ORDER BY seq",
                                  uuid.UUID(payment["id"]))
    assert [e["type"] for e in events] == ["payment.created", "payment.detected",
                                          "payment.confirmed"]


async def test_native_payment_confirmed(evm: EvmHarness) -> None:
    await evm.start_watcher()
    payment = await evm.create("50", "ETH")
    assert payment["payment_request"]["amount"] == str(50 * 10**18 // 2500)
    assert payment["payment_request"]["url"].startswith(
        f"ethereum:{payment['payment_request']['recipient']}@31337?value=")
    await evm.pay(payment)
    await evm.anvil.mine(DEPTH)
    row = await evm.wait_for(payment["id"], "confirmed")
    assert row["amount_received"] == 2 * 10**16


async def test_reorg_before_depth_returns_the_payment_to_pending_then_it_pays_again(
        evm: EvmHarness) -> None:
    await evm.start_watcher()
    payment = await evm.create("10", "USDT")
    await evm.pay(payment)
    await evm.wait_for(payment["id"], "detected")
    # Replace the paying block (and the one we mine after it) with blocks that lack the tx.
    await evm.anvil.mine(1)
    await evm.anvil.reorg(2)
    row = await evm.wait_for(payment["id"], "pending")
    assert row["amount_received"] == 0
    assert row["exception"] is None
    [transfer] = await evm.transfers(payment["id"])
    assert transfer["status"] == "reverted"
    assert transfer["reverted_at"] is not None
    kinds = [r["type"] for r in await evm.pool.fetch(
        "SELECT type FROM events WHERE payment_id = $1 ORDER BY seq", uuid.UUID(payment["id"]))]
    assert kinds[-1] == "payment.reverted"
    # Paid again on the new chain: confirmed, counting only the new transfer.
    await evm.pay(payment)
    await evm.anvil.mine(DEPTH)
    row = await evm.wait_for(payment["id"], "confirmed")
    assert row["amount_received"] == 10_000_000
    statuses = sorted(t["status"] for t in await evm.transfers(payment["id"]))
    assert statuses == ["confirmed", "reverted"]


async def test_reorg_that_reincludes_the_transaction_keeps_it(evm: EvmHarness) -> None:
    """The reorg's new block carries the same payment (as a new transaction): the old transfer
    is reverted, the new one counts, and the payment confirms once."""
    await evm.start_watcher()
    payment = await evm.create("10", "ETH")
    request = payment["payment_request"]
    await evm.pay(payment)
    await evm.wait_for(payment["id"], "detected")
    await evm.anvil.reorg(1, [({"to": request["recipient"], "value": hex(int(request["amount"]))},
                               0)])
    await evm.anvil.mine(DEPTH)
    row = await evm.wait_for(payment["id"], "confirmed")
    assert row["amount_received"] == int(request["amount"])
    assert row["exception"] is None
    transfers = await evm.transfers(payment["id"])
    assert sorted(t["status"] for t in transfers) == ["confirmed", "reverted"]
    confirmed = await evm.pool.fetchval(
        "SELECT count(*) FROM events WHERE payment_id = $1 AND type = 'payment.confirmed'",
        uuid.UUID(payment["id"]))
    assert confirmed == 1


async def test_wrong_token_waits_in_the_inbox_and_does_not_pay(evm: EvmHarness) -> None:
    await evm.start_watcher()
    payment = await evm.create("10", "USDT")
    await evm.pay(payment, amount=10 * 10**18, token=evm.dai)
    await evm.anvil.mine(DEPTH)

    async def in_inbox() -> list:
        return await evm.pool.fetch("SELECT * FROM transfers WHERE unmatched_reason IS NOT NULL"
                                    " AND recipient = $1", payment["payment_request"]["recipient"])
    await evm.wait_until(in_inbox, "the DAI transfer in the inbox")
    [transfer] = await in_inbox()
    assert transfer["payment_id"] is None
    assert transfer["asset"] == "DAI"
    assert transfer["unmatched_reason"] == (
        f"wrong asset: sent DAI to the deposit address of payment {payment['id']}, "
        "which asks USDT")
    assert await evm.transfers(payment["id"]) == []
    assert (await evm.payment(payment["id"]))["status"] == "pending"


async def _has_transfers(evm: EvmHarness, payment_id: str) -> bool:
    return bool(await evm.transfers(payment_id))


async def test_underpaid_then_overpaid(evm: EvmHarness) -> None:
    await evm.start_watcher()
    short = await evm.create("10", "USDT")
    await evm.pay(short, amount=6_000_000)
    await evm.anvil.mine(DEPTH)
    row = await evm.wait_for(short["id"], "detected")
    await evm.wait_until(lambda: _received(evm, short["id"], 6_000_000), "6 USDT counted")
    assert (await evm.payment(short["id"]))["exception"] == "underpaid"
    await evm.pay(short, amount=4_000_000)  # topped up
    await evm.anvil.mine(DEPTH)
    row = await evm.wait_for(short["id"], "confirmed")
    assert row["amount_received"] == 10_000_000
    assert row["exception"] == "multiple"

    over = await evm.create("10", "USDT")
    await evm.pay(over, amount=12_000_000)
    await evm.anvil.mine(DEPTH)
    row = await evm.wait_for(over["id"], "confirmed")
    assert row["exception"] == "overpaid"
    assert row["amount_received"] == 12_000_000


async def _received(evm: EvmHarness, payment_id: str, amount: int) -> bool:
    return (await evm.payment(payment_id))["amount_received"] == amount


async def test_paid_after_expiry_is_recorded_as_paid_late(evm: EvmHarness) -> None:
    await evm.start_watcher()
    payment = await evm.create("10", "USDT")
    await _expire(evm.pool, payment["id"])
    await evm.pay(payment)
    await evm.anvil.mine(DEPTH)
    await evm.wait_until(lambda: _has_transfers(evm, payment["id"]), "the late transfer")
    await evm.wait_until(lambda: _exception(evm, payment["id"], "paid_late"), "paid_late")
    row = await evm.payment(payment["id"])
    assert row["status"] == "expired"


async def _exception(evm: EvmHarness, payment_id: str, exception: str) -> bool:
    return (await evm.payment(payment_id))["exception"] == exception


async def _expire(pool: asyncpg.Pool, payment_id: str) -> None:
    """Move the payment's clock into the past and let the expiry rule close it."""
    past = datetime.now(UTC) - timedelta(minutes=1)
    await pool.execute(
        "UPDATE payments SET created_at = $2::timestamptz - interval '15 minutes', "
        "expires_at = $2::timestamptz, "
        "status = 'expired', closed_at = now() WHERE id = $1", uuid.UUID(payment_id), past)


async def test_daemon_down_while_paid_is_backfilled(evm: EvmHarness) -> None:
    await evm.start_watcher()
    payment = await evm.create("10", "ETH")
    await evm.stop_watcher()
    await evm.pay(payment)
    await evm.anvil.mine(120)  # more than two backfill chunks of 50
    await evm.start_watcher()
    row = await evm.wait_for(payment["id"], "confirmed")
    assert row["amount_received"] == int(payment["payment_request"]["amount"])
    held = await evm.pool.fetchval("SELECT count(*) FROM evm_blocks WHERE chain = 'anvil'")
    assert held >= 120


async def test_two_payments_paid_in_one_block(evm: EvmHarness) -> None:
    await evm.start_watcher()
    first, second = await evm.create("10", "USDT"), await evm.create("20", "ETH")
    await evm.anvil.automine(False)
    for p in (first, second):
        request = p["payment_request"]
        if request["asset_contract"]:
            await evm.anvil.pay_token(request["asset_contract"], request["recipient"],
                                      int(request["amount"]))
        else:
            await evm.anvil.pay_eth(request["recipient"], int(request["amount"]))
    await evm.anvil.mine(1)
    await evm.anvil.automine(True)
    await evm.anvil.mine(DEPTH)
    rows = [await evm.wait_for(p["id"], "confirmed") for p in (first, second)]
    blocks = {t["slot"] for p in (first, second) for t in await evm.transfers(p["id"])}
    assert len(blocks) == 1
    assert all(r["exception"] is None for r in rows)


async def test_failing_primary_rpc_fails_over(evm: EvmHarness) -> None:
    from tests.conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    chain = evm.chain.model_copy(update={"rpc_urls": [dead, evm.anvil.url]})
    await evm.start_watcher(chain)
    payment = await evm.create("10", "USDT")
    await evm.pay(payment)
    await evm.anvil.mine(DEPTH)
    await evm.wait_for(payment["id"], "confirmed")
    assert evm.watcher is not None
    assert evm.watcher.rpc.endpoints[0].failures > 0 or evm.watcher.rpc.endpoints[0].open_until


@pytest.mark.parametrize("count", [12])
async def test_shared_address_amounts_are_unique_and_matched_exactly(
        evm: EvmHarness, count: int) -> None:
    from tests.evm.conftest import make_evm_store

    address = evm.anvil.accounts[9]
    headers, store_id = await make_evm_store(evm.pool, evm.chain, "shared-shop",
                                             "shared_address", address)
    evm.headers = headers
    await evm.start_watcher()
    payments = [await evm.create("10", "USDT") for _ in range(count)]
    amounts = [int(p["payment_request"]["amount"]) for p in payments]
    assert len(set(amounts)) == count
    assert min(amounts) == 10_000_000
    assert {p["payment_request"]["recipient"] for p in payments} == {address}
    for p in reversed(payments):  # pay in another order than they were created
        await evm.pay(p)
    stray = await evm.anvil.pay_token(evm.usdt, address, 9_990_000)  # a fee was deducted
    await evm.anvil.receipt(stray)
    await evm.anvil.mine(DEPTH)
    for p, amount in zip(payments, amounts, strict=True):
        row = await evm.wait_for(p["id"], "confirmed")
        assert row["amount_received"] == amount
        assert row["exception"] is None
    unmatched = await evm.pool.fetch(
        "SELECT * FROM transfers WHERE store_id = $1 AND payment_id IS NULL", store_id)
    assert [(u["amount"], u["tx_id"]) for u in unmatched] == [(9_990_000, stray)]
    assert unmatched[0]["unmatched_reason"].startswith("amount matches no open payment")
    assert unmatched[0]["status"] in ("confirmed", "finalized")  # it follows the chain
    resp = await evm.api.get("/v1/transfers/unmatched", headers=headers)
    assert resp.status == 200, await resp.text()
    listed = (await resp.json())["data"]
    assert [t["tx_id"] for t in listed] == [stray]
    assert listed[0]["amount"] == "9990000"
