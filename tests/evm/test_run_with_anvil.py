"""`paywatch run` with an EVM chain configured, against anvil, all as processes: the operator
sets the store up with `paywatch stores evm`, a token payment created through the API is paid
from an anvil account and confirmed at depth, and its order is paid."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import PAYWATCH, clean_env
from tests.evm.anvil import CHAIN_ID, Anvil, anvil_process
from tests.evm.conftest import XPUB
from tests.test_daemon import get, start, wait_ready
from tests.watcher.test_run_with_simnet import post

DEPTH = 2


@pytest.mark.slow
def test_run_confirms_a_token_payment_on_anvil(db_dsn: str, tmp_path: Path) -> None:
    with anvil_process() as (url, ws_url):
        usdt = asyncio.run(_deploy(url, ws_url))
        chains = [{"name": "anvil", "chain_id": CHAIN_ID, "rpc_urls": [url],
                   "ws_urls": [ws_url], "confirmations": DEPTH, "poll_seconds": 0.5,
                   "tokens": [{"symbol": "USDT", "contract": usdt, "decimals": 6}]}]
        env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_SOLANA_WATCH="false",
                        PAYWATCH_EVM_CHAINS=json.dumps(chains),
                        PAYWATCH_STATIC_PRICES='{"ETH": "2500", "USDT": "1"}')
        cli = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True,
               "check": True, "timeout": 120}
        daemon = None
        try:
            subprocess.run([PAYWATCH, "stores", "create", "Evm Shop"], **cli)
            out = subprocess.run([PAYWATCH, "stores", "evm", "evm-shop", "anvil", "--xpub",
                                  XPUB], **cli).stdout
            assert "deposit_address; accepts ETH, USDT" in out
            key = subprocess.run([PAYWATCH, "keys", "create", "--store", "evm-shop"],
                                 **cli).stdout.splitlines()[0]
            daemon, base = start(env, tmp_path)
            wait_ready(base, daemon)
            order = post(f"{base}/v1/orders", key, {
                "customer": {"email": "ada@example.com"}, "currency": "USD",
                "items": [{"sku": "MUG", "name": "Mug", "quantity": 2, "unit_price": "15"}]})
            payment = post(f"{base}/v1/payments", key, {"order_id": order["id"],
                                                       "asset": "USDT", "chain": "anvil"})
            request = payment["payment_request"]
            assert request["url"].startswith(f"ethereum:{usdt}@{CHAIN_ID}/transfer?address=")
            asyncio.run(_pay(url, ws_url, usdt, request["recipient"], int(request["amount"])))
            seen = _wait_confirmed(base, key, payment["id"])
            assert seen["amount_received"] == "30000000"
            assert [t["status"] for t in seen["transfers"]] == ["confirmed"]
            order_now = _get(f"{base}/v1/orders/{order['id']}", key)
            assert order_now["status"] == "paid"
            metrics = get(f"{base}/metrics")[1].decode()
            assert 'paywatch_payments_confirmed_total{asset="USDT",chain="anvil"} 1.0' in metrics
            assert 'paywatch_evm_blocks_total{chain="anvil",phase="forward"}' in metrics
        finally:
            if daemon is not None:
                daemon.send_signal(signal.SIGTERM)
                daemon.communicate(timeout=30)
        assert daemon.returncode == 0


async def _deploy(url: str, ws_url: str) -> str:
    async with aiohttp.ClientSession() as session:
        anvil = await Anvil(url, ws_url, session).start()
        return await anvil.deploy_token("Tether USD", "USDT", 6, 10**15)


async def _pay(url: str, ws_url: str, token: str, to: str, amount: int) -> None:
    async with aiohttp.ClientSession() as session:
        anvil = await Anvil(url, ws_url, session).start()
        await anvil.receipt(await anvil.pay_token(token, to, amount))
        await anvil.mine(DEPTH)


def _get(url: str, key: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        return dict(json.loads(resp.read()))


def _wait_confirmed(base: str, key: str, payment_id: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        seen = _get(f"{base}/v1/payments/{payment_id}", key)
        if seen["status"] == "confirmed" or time.monotonic() > deadline:
            assert seen["status"] == "confirmed", seen["status"]
            return seen
        time.sleep(0.2)
