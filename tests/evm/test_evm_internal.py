"""ETH sent by a contract on anvil: the Forwarder (tests/evm/contracts/Forwarder.sol) pays a
payment's address by an internal CALL, so no top-level transaction reaches it. With
`trace_internal` the watcher finds it in the block's call trace and matches it by the same
rules as a plain transfer; a reverted inner call credits nothing; without the opt-in the money
is not seen."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from tests.evm.conftest import DEPTH, EvmHarness, make_evm_store
from watcher.evm.chain import INTERNAL_BASE


@pytest.fixture
async def forwarder(evm: EvmHarness) -> str:
    return await evm.anvil.deploy_forwarder()


async def _start_tracing(evm: EvmHarness) -> None:
    await evm.start_watcher(evm.chain.model_copy(update={"trace_internal": True}))


async def _forward(evm: EvmHarness, forwarder: str, payment: dict[str, Any],
                   amount: int | None = None, function: str = "forward") -> dict[str, Any]:
    request = payment["payment_request"]
    wei = int(request["amount"]) if amount is None else amount
    tx = await evm.anvil.forward(forwarder, request["recipient"], wei, function)
    return await evm.anvil.receipt(tx)


async def _by_tx(pool: asyncpg.Pool, tx: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM transfers WHERE tx_id = $1 ORDER BY index", tx)


async def test_deposit_address_paid_by_a_contract_confirms(evm: EvmHarness,
                                                           forwarder: str) -> None:
    await _start_tracing(evm)
    payment = await evm.create("10", "ETH")
    receipt = await _forward(evm, forwarder, payment)
    assert receipt["status"] == "0x1"
    await evm.anvil.mine(DEPTH)
    row = await evm.wait_for(payment["id"], "confirmed")
    assert row["amount_received"] == int(payment["payment_request"]["amount"])
    assert row["exception"] is None
    [transfer] = await evm.transfers(payment["id"])
    assert transfer["tx_id"] == receipt["transactionHash"]
    assert transfer["via_program"] is True
    assert transfer["matched_by"] == "deposit_address"
    assert transfer["sender"] == forwarder  # the contract, not the person who paid
    assert transfer["index"] == INTERNAL_BASE + 1
    assert transfer["block_hash"] == receipt["blockHash"]


async def test_shared_address_paid_by_a_contract_matches_its_unique_amount(
        evm: EvmHarness, forwarder: str) -> None:
    address = evm.anvil.accounts[9]
    evm.headers, _ = await make_evm_store(evm.pool, evm.chain, "shared-shop",
                                          "shared_address", address)
    await _start_tracing(evm)
    first, second = await evm.create("10", "ETH"), await evm.create("10", "ETH")
    assert first["payment_request"]["amount"] != second["payment_request"]["amount"]
    await _forward(evm, forwarder, second)
    await evm.anvil.mine(DEPTH)
    row = await evm.wait_for(second["id"], "confirmed")
    assert row["amount_received"] == int(second["payment_request"]["amount"])
    [transfer] = await evm.transfers(second["id"])
    assert (transfer["via_program"], transfer["matched_by"]) == (True, "unique_amount")
    assert (await evm.payment(first["id"]))["status"] == "pending"


async def test_a_reverted_inner_payment_credits_nothing(evm: EvmHarness,
                                                        forwarder: str) -> None:
    await _start_tracing(evm)
    payment = await evm.create("10", "ETH")
    # The outer transaction succeeds, but the sub-call that paid the address reverted.
    caught = await _forward(evm, forwarder, payment, function="forwardTryCatch")
    assert caught["status"] == "0x1"
    # The whole transaction reverts after its inner call paid the address.
    failed = await _forward(evm, forwarder, payment, function="forwardThenRevert")
    assert failed["status"] == "0x0"
    # Then a real payment, later: the watcher has read the blocks above by the time it counts.
    paid = await _forward(evm, forwarder, payment)
    await evm.anvil.mine(DEPTH)
    row = await evm.wait_for(payment["id"], "confirmed")
    assert row["amount_received"] == int(payment["payment_request"]["amount"])  # once, not 3x
    assert [t["tx_id"] for t in await evm.transfers(payment["id"])] == [paid["transactionHash"]]
    assert await _by_tx(evm.pool, caught["transactionHash"]) == []
    assert await _by_tx(evm.pool, failed["transactionHash"]) == []


async def test_a_wrong_amount_by_contract_to_a_shared_address_waits_in_the_inbox(
        evm: EvmHarness, forwarder: str) -> None:
    address = evm.anvil.accounts[9]
    evm.headers, store_id = await make_evm_store(evm.pool, evm.chain, "shared-shop",
                                                 "shared_address", address)
    await _start_tracing(evm)
    payment = await evm.create("10", "ETH")
    short = int(payment["payment_request"]["amount"]) - 10**12  # an exchange took a fee
    receipt = await _forward(evm, forwarder, payment, amount=short)
    await evm.anvil.mine(DEPTH)

    async def in_inbox() -> list[asyncpg.Record]:
        return await _by_tx(evm.pool, receipt["transactionHash"])
    await evm.wait_until(in_inbox, "the short internal transfer in the inbox")
    [transfer] = await in_inbox()
    assert transfer["payment_id"] is None
    assert transfer["store_id"] == store_id
    assert transfer["amount"] == short
    assert transfer["via_program"] is True
    assert transfer["unmatched_reason"].startswith("amount matches no open payment")
    assert (await evm.payment(payment["id"]))["status"] == "pending"


async def test_one_transaction_paying_two_deposit_addresses_pays_both(
        evm: EvmHarness, forwarder: str) -> None:
    await _start_tracing(evm)
    first, second = await evm.create("10", "ETH"), await evm.create("20", "ETH")
    pays = [(p["payment_request"]["recipient"], int(p["payment_request"]["amount"]))
            for p in (first, second)]
    tx = await evm.anvil.split(forwarder, pays)
    await evm.anvil.receipt(tx)
    await evm.anvil.mine(DEPTH)
    for p in (first, second):
        await evm.wait_for(p["id"], "confirmed")
    assert [t["index"] for t in await _by_tx(evm.pool, tx)] == [INTERNAL_BASE + 1,
                                                                 INTERNAL_BASE + 2]


async def test_a_reorg_reverts_an_internal_transfer(evm: EvmHarness, forwarder: str) -> None:
    await _start_tracing(evm)
    payment = await evm.create("10", "ETH")
    await _forward(evm, forwarder, payment)
    await evm.wait_for(payment["id"], "detected")
    await evm.anvil.mine(1)
    await evm.anvil.reorg(2)  # the new blocks lack the forwarding transaction
    row = await evm.wait_for(payment["id"], "pending")
    assert row["amount_received"] == 0
    [transfer] = await evm.transfers(payment["id"])
    assert transfer["status"] == "reverted"
    kinds = [r["type"] for r in await evm.pool.fetch(
        "SELECT type FROM events WHERE payment_id = $1 ORDER BY seq", uuid.UUID(payment["id"]))]
    assert kinds[-1] == "payment.reverted"


async def test_without_the_opt_in_a_contract_payment_is_not_seen(evm: EvmHarness,
                                                                 forwarder: str) -> None:
    await evm.start_watcher()  # trace_internal is off by default
    assert evm.chain.trace_internal is False
    unseen, direct = await evm.create("10", "ETH"), await evm.create("20", "ETH")
    receipt = await _forward(evm, forwarder, unseen)
    assert receipt["status"] == "0x1"
    await evm.pay(direct)  # a later, top-level payment: the watcher passed the block above
    await evm.anvil.mine(DEPTH)
    await evm.wait_for(direct["id"], "confirmed")
    assert (await evm.payment(unseen["id"]))["status"] == "pending"
    assert await _by_tx(evm.pool, receipt["transactionHash"]) == []
    balance = await evm.anvil.rpc("eth_getBalance", [unseen["payment_request"]["recipient"],
                                                     "latest"])
    assert int(balance, 16) == int(unseen["payment_request"]["amount"])  # the money did arrive
