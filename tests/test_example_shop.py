"""examples/shop end to end: a customer buys in the example shop, is sent to paywatch's checkout,
pays from a simnet wallet; `paywatch run` confirms it and delivers the signed `order.paid`
webhook; the shop verifies it, ships, and records the fulfilment in paywatch. Every part is a
real process but the chain (simnet, in this test's event loop) and the customer's wallet."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import asyncpg

from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import ROOT, clean_env, free_port, make_store
from tests.test_daemon import Daemon, start, stop, wait_ready

SHOP = ROOT / "examples" / "shop" / "shop.py"
BOUND_S = 60.0   # a bound on waiting for the chain, the watcher and the webhook, not a claim


async def until_ok(session: aiohttp.ClientSession, url: str, proc: Daemon) -> None:
    async with asyncio.timeout(BOUND_S):
        while True:
            assert proc.poll() is None, proc.tail()
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def test_the_example_shop_sells_and_ships_on_the_verified_webhook(
        db_dsn: str, pool: asyncpg.Pool, sim: SimnetServer, wallet: Wallet,
        tmp_path: Path) -> None:
    headers, _store = await make_store(pool, "shop")
    daemon, api = start(clean_env(
        PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_SOLANA_RPC_URLS=sim.rpc_url,
        PAYWATCH_SOLANA_WS_URLS=sim.ws_url, PAYWATCH_WEBHOOK_ALLOW_PRIVATE="true"), tmp_path)
    shop_port = free_port()
    shop_url = f"http://127.0.0.1:{shop_port}"
    shop: Daemon | None = None
    try:
        # The chain runs in this loop: wait for readiness off it.
        await asyncio.to_thread(wait_ready, api, daemon)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{api}/v1/webhook_endpoints", headers=headers, json={
                    "url": f"{shop_url}/webhooks/paywatch",
                    "event_types": ["order.paid"]}) as resp:
                assert resp.status == 201, await resp.text()
                secret = (await resp.json())["secret"]
            shop = Daemon([sys.executable, str(SHOP)], tmp_path / "shop.log", env=clean_env(
                SHOP_PAYWATCH_URL=api, SHOP_API_KEY=headers["Authorization"][7:],
                SHOP_WEBHOOK_SECRET=secret, SHOP_PORT=str(shop_port)), cwd=tmp_path)
            await until_ok(http, f"{shop_url}/", shop)

            # A forged webhook is refused and ships nothing.
            async with http.post(f"{shop_url}/webhooks/paywatch", data=b'{"id": "x"}',
                                 headers={"Paywatch-Signature": "t=1,v1=00"}) as resp:
                assert resp.status == 400

            async with http.post(f"{shop_url}/buy", data={"sku": "mug"},
                                 allow_redirects=False) as resp:
                assert resp.status == 303, await resp.text()
                checkout = resp.headers["Location"]
            assert checkout.startswith(f"{api}/pay/")
            payment_id = checkout.rsplit("/", 1)[-1]
            async with http.get(f"{api}/v1/payments/{payment_id}", headers=headers) as resp:
                payment = await resp.json()
            order_number = (await pool.fetchval(
                "SELECT o.number FROM orders o JOIN payments p ON p.order_id = o.id "
                "WHERE p.id = $1::uuid", payment_id))
            async with http.get(checkout) as resp:   # the customer's checkout page
                assert resp.status == 200

            await wallet.pay(payment["payment_request"]["url"])

            async with asyncio.timeout(BOUND_S):
                while True:
                    async with http.get(f"{shop_url}/orders/{order_number}") as resp:
                        if ">fulfilled<" in await resp.text():
                            break
                    await asyncio.sleep(0.1)
            async with http.get(f"{api}/v1/orders/{order_number}", headers=headers) as resp:
                order = await resp.json()
            assert order["status"] == "fulfilled"
    finally:
        if shop is not None:
            shop.terminate()
            shop.wait(10)
        stop(daemon, timeout=30)
    assert f"order {order_number} paid and fulfilled" in shop.output()
