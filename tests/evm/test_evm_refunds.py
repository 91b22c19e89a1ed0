"""Keyless refunds on anvil: an EIP-681 request to the customer, sent by one of the merchant's
own addresses (any of them: EVM transfers carry no reference, so the watcher matches the
destination, asset and exact amount), confirmed at depth, reverted by a reorg."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from paywatch.services.sweeps import expire_refunds
from tests.evm.conftest import DEPTH, EvmHarness, make_evm_store

ORDER = {"customer": {"email": "ada@example.com"}, "currency": "USD", "shipping": "0",
         "tax": "0", "items": [{"sku": "MUG", "name": "Mug", "quantity": 1, "unit_price": "25"}]}
MERCHANT = 2  # an anvil account (holding tokens) standing for the merchant's own wallet
CUSTOMER = 1  # EvmHarness.pay's default sender


async def refund(evm: EvmHarness, payment_id: str, status: int = 201, **body: Any) -> dict:
    resp = await evm.api.post(f"/v1/payments/{payment_id}/refunds", headers=evm.headers,
                              json=body)
    assert resp.status == status, await resp.text()
    return dict(await resp.json())


async def refund_status(evm: EvmHarness, refund_id: str) -> str:
    return str(await evm.pool.fetchval("SELECT status FROM refunds WHERE id = $1",
                                       uuid.UUID(refund_id)))


async def wait_refund(evm: EvmHarness, refund_id: str, status: str) -> None:
    async def reached() -> bool:
        return await refund_status(evm, refund_id) == status

    await evm.wait_until(reached, f"refund {status}")


async def mined(evm: EvmHarness, tx: str) -> None:
    receipt = await evm.anvil.receipt(tx)
    assert receipt["status"] == "0x1", receipt


async def order_of(evm: EvmHarness, order_id: str) -> dict:
    return dict(await (await evm.api.get(f"/v1/orders/{order_id}", headers=evm.headers)).json())


async def paid_order(evm: EvmHarness, asset: str) -> tuple[dict, dict, asyncpg.Record]:
    resp = await evm.api.post("/v1/orders", headers=evm.headers, json=ORDER)
    assert resp.status == 201, await resp.text()
    order = await resp.json()
    pay = await evm.create(asset=asset, order_id=order["id"], amount=None, currency=None)
    await evm.pay(pay)
    await evm.anvil.mine(DEPTH)
    row = await evm.wait_for(pay["id"], "confirmed")
    return order, pay, row



async def test_a_full_usdt_refund_from_another_merchant_address_refunds_the_order(
        evm: EvmHarness) -> None:
    await evm.start_watcher()
    order, pay, paid = await paid_order(evm, "USDT")
    made = await refund(evm, pay["id"], amount=str(paid["amount_received"]))
    customer = evm.anvil.accounts[CUSTOMER]
    assert (made["destination"], made["destination_from"]) == (customer, "sender")
    assert made["source"] == pay["payment_request"]["recipient"]  # the deposit address
    assert made["refund_request"]["url"] == (
        f"ethereum:{evm.usdt}@31337/transfer?address={customer}&uint256=25000000")
    assert made["refund_request"]["reference"] is None

    # A different amount to the customer is not the refund; the exact one is, from any sender.
    await mined(evm, await evm.anvil.pay_token(evm.usdt, customer, 1, MERCHANT))
    await mined(evm, await evm.anvil.pay_token(evm.usdt, customer, 25_000_000, MERCHANT))
    await evm.anvil.mine(DEPTH)
    await wait_refund(evm, made["id"], "confirmed")
    [out] = await evm.pool.fetch("SELECT * FROM transfers WHERE refund_id = $1",
                                 uuid.UUID(made["id"]))
    assert (out["direction"], out["amount"], out["sender"], out["payment_id"]) == (
        "out", 25_000_000, evm.anvil.accounts[MERCHANT], None)
    assert (await evm.payment(pay["id"]))["amount_refunded"] == 25_000_000
    now = await order_of(evm, order["id"])
    assert now["status"] == "refunded"
    assert [h["to_status"] for h in now["status_history"]] == [
        "pending_payment", "paid", "refunded"]


async def test_an_overpayment_refund_gives_the_excess_back_and_the_order_stays_paid(
        evm: EvmHarness) -> None:
    await evm.start_watcher()
    resp = await evm.api.post("/v1/orders", headers=evm.headers, json=ORDER)
    order = await resp.json()
    pay = await evm.create(asset="USDT", order_id=order["id"], amount=None, currency=None)
    await evm.pay(pay, amount=27_500_000)  # 2.5 USDT more than the 25 asked
    await evm.anvil.mine(DEPTH)
    paid = await evm.wait_for(pay["id"], "confirmed")
    assert (paid["exception"], paid["amount_received"]) == ("overpaid", 27_500_000)
    over = await refund(evm, pay["id"], status=422, amount="27500001")  # more than arrived
    assert over["error"]["param"] == "amount"
    made = await refund(evm, pay["id"], amount="2500000", reason="overpaid")
    assert made["destination"] == evm.anvil.accounts[CUSTOMER]
    await mined(evm, await evm.anvil.pay_token(evm.usdt, made["destination"], 2_500_000,
                                               MERCHANT))
    await evm.anvil.mine(DEPTH)
    await wait_refund(evm, made["id"], "confirmed")
    assert (await evm.payment(pay["id"]))["amount_refunded"] == 2_500_000
    now = await order_of(evm, order["id"])
    assert now["status"] == "partially_refunded"  # what the order cost is still kept


async def test_a_partial_eth_refund_on_a_shared_address_needs_a_destination(
        evm: EvmHarness) -> None:
    evm.headers, _ = await make_evm_store(evm.pool, evm.chain, "shared", "shared_address",
                                          evm.anvil.accounts[MERCHANT])
    await evm.start_watcher()
    order, pay, paid = await paid_order(evm, "ETH")
    error = (await refund(evm, pay["id"], 422, amount="1000"))["error"]
    assert error["code"] == "destination_required"
    assert "exchange" in error["message"]

    customer = evm.anvil.accounts[CUSTOMER]
    half = int(paid["amount_received"]) // 2
    made = await refund(evm, pay["id"], amount=str(half), destination=customer.lower())
    assert (made["destination"], made["destination_from"]) == (customer, "given")
    assert made["source"] == evm.anvil.accounts[MERCHANT]
    await mined(evm, await evm.anvil.pay_eth(customer, half, MERCHANT))
    await evm.anvil.mine(DEPTH)
    await wait_refund(evm, made["id"], "confirmed")
    assert (await order_of(evm, order["id"]))["status"] == "partially_refunded"


async def test_a_refund_nobody_sends_expires(evm: EvmHarness) -> None:
    await evm.start_watcher()
    _order, pay, paid = await paid_order(evm, "USDT")
    made = await refund(evm, pay["id"], amount=str(paid["amount_received"]))
    await evm.pool.execute("UPDATE refunds SET created_at = now() - interval '2 days', "
                           "expires_at = now() - interval '1 day' WHERE id = $1",
                           uuid.UUID(made["id"]))
    assert await expire_refunds(evm.pool) == 1
    # sent after it expired: not matched (the watcher follows pending refunds only)
    await mined(evm, await evm.anvil.pay_token(
        evm.usdt, made["destination"], int(made["amount"]), MERCHANT))
    await evm.anvil.mine(DEPTH)
    await evm.wait_until(evm._watcher_caught_up, "the watcher to reach the head")
    assert await refund_status(evm, made["id"]) == "expired"
    assert (await evm.payment(pay["id"]))["amount_refunded"] == 0


async def test_a_reorg_deeper_than_the_depth_reopens_a_confirmed_refund(
        evm: EvmHarness) -> None:
    await evm.start_watcher()
    order, pay, paid = await paid_order(evm, "USDT")
    made = await refund(evm, pay["id"], amount=str(paid["amount_received"]))
    await mined(evm, await evm.anvil.pay_token(
        evm.usdt, made["destination"], int(made["amount"]), MERCHANT))
    await evm.anvil.mine(DEPTH - 1)
    await wait_refund(evm, made["id"], "confirmed")
    assert (await order_of(evm, order["id"]))["status"] == "refunded"

    await evm.anvil.reorg(DEPTH + 1)  # the refund's block is orphaned
    await wait_refund(evm, made["id"], "pending")
    assert (await evm.payment(pay["id"]))["amount_refunded"] == 0
    history = (await order_of(evm, order["id"]))["status_history"]
    assert [h["to_status"] for h in history][-2:] == ["refunded", "paid"]
    kinds = [r["type"] for r in await evm.pool.fetch(
        "SELECT type FROM events WHERE payment_id = $1 ORDER BY seq", uuid.UUID(pay["id"]))]
    assert kinds[-2:] == ["refund.reverted", "order.refund_reverted"]
