"""End to end on anvil: a real transfer the watcher could not match (an exchange deducted a fee
on the way to a shared address) waits in the inbox; the merchant assigns it to the customer's
payment, the watcher's next confirmations settle it by the normal rules, the order is paid and
the merchant's webhook receives every step."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from db import webhooks
from tests.evm.conftest import DEPTH, EvmHarness, make_evm_store
from watcher.webhooks import Dispatcher


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[list[dict], str]]:
    got: list[dict] = []

    async def handle(request: web.Request) -> web.Response:
        got.append(json.loads(await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    server = TestServer(app)
    await server.start_server()
    yield got, str(server.make_url("/hook"))
    await server.close()


async def test_an_unmatched_transfer_assigned_on_anvil_pays_the_order(
        evm: EvmHarness, receiver: tuple[list[dict], str]) -> None:
    got, url = receiver
    address = evm.anvil.accounts[9]
    headers, store_id = await make_evm_store(evm.pool, evm.chain, "inbox-shop",
                                             "shared_address", address)
    async with evm.pool.acquire() as conn:
        await webhooks.insert_endpoint(conn, store_id, url, "whsec_test", None, ["*"])
    await evm.start_watcher()

    # The customer paid before asking for a payment (no open payment wants this amount).
    stray = await evm.anvil.pay_token(evm.usdt, address, 9_990_000)
    await evm.anvil.receipt(stray)

    async def in_inbox() -> bool:
        resp = await evm.api.get("/v1/transfers/unmatched?chain=anvil&asset=usdt",
                                 headers=headers)
        return bool((await resp.json())["data"])

    await evm.wait_until(in_inbox, "the stray transfer in the inbox")
    resp = await evm.api.get("/v1/transfers/unmatched", headers=headers)
    [entry] = (await resp.json())["data"]
    assert (entry["tx_id"], entry["amount"], entry["payment_id"]) == (stray, "9990000", None)
    assert entry["unmatched_reason"].startswith("amount matches no open payment")

    resp = await evm.api.post("/v1/orders", headers=headers, json={
        "customer": {"email": "ada@example.com", "name": "Ada"},
        "items": [{"sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "9.99"}],
        "currency": "USD"})
    assert resp.status == 201, await resp.text()
    order = await resp.json()
    resp = await evm.api.post("/v1/payments", headers=headers, json={
        "order_id": order["id"], "asset": "USDT", "chain": "anvil"})
    assert resp.status == 201, await resp.text()
    payment = await resp.json()
    assert payment["amount_due"] == "9990000"  # what the customer's exchange sent

    resp = await evm.api.post(f"/v1/transfers/{entry['id']}/assign", headers={
        **headers, "Idempotency-Key": "assign-stray"}, json={"payment_id": payment["id"]})
    assert resp.status == 200, await resp.text()
    detected = await evm.payment(payment["id"])  # the transfer is not deep enough yet
    assert detected["status"] in ("detected", "confirmed")
    await evm.anvil.mine(DEPTH)  # the chain's confirmations, read by the watcher
    row = await evm.wait_for(payment["id"], "confirmed")
    assert (row["amount_received"], row["exception"]) == (9_990_000, None)
    resp = await evm.api.get(f"/v1/orders/{order['id']}", headers=headers)
    assert (await resp.json())["status"] == "paid"

    async with aiohttp.ClientSession() as session:
        delivered = await Dispatcher(evm.pool, session, allow_private=True).run_until_idle()
    assert delivered == len(got)
    assert {"transfer.unmatched", "transfer.assigned", "payment.confirmed",
            "order.paid"} <= {event["type"] for event in got}
    rows = await evm.pool.fetch("SELECT type FROM events WHERE store_id = $1 ORDER BY seq",
                                store_id)
    assert [r["type"] for r in rows] == [
        "transfer.unmatched", "order.created", "payment.created", "transfer.assigned",
        "payment.detected", "payment.confirmed", "order.paid"]
    confirmed = next(e for e in got if e["type"] == "payment.confirmed")
    assert [t["tx_id"] for t in confirmed["data"]["object"]["transfers"]] == [stray]
    assert confirmed["data"]["object"]["transfers"][0]["matched_by"] == "assigned"
