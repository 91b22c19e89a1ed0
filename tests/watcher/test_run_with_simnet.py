"""`paywatch run` against `paywatch simnet`, all as processes: a payment created through the API
and paid with `paywatch simnet pay` is confirmed, and its order is paid."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PAYWATCH, clean_env, simnet_process
from tests.test_daemon import get, start, wait_ready

MERCHANT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


def post(url: str, key: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",  # noqa: S310
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read())


@pytest.mark.slow
def test_run_confirms_a_payment_paid_with_simnet_pay(db_dsn: str, tmp_path: Path) -> None:
    with simnet_process(tmp_path) as (rpc_url, ws_url):
        run_against(db_dsn, tmp_path, rpc_url, ws_url)


def run_against(db_dsn: str, tmp_path: Path, rpc_url: str, ws_url: str) -> None:
    env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_SOLANA_RPC_URLS=rpc_url,
                    PAYWATCH_SOLANA_WS_URLS=ws_url)
    cli = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True, "check": True,
           "timeout": 120}
    daemon = None
    try:
        subprocess.run([PAYWATCH, "simnet", "airdrop", MERCHANT, "1", "--rpc-url", rpc_url],
                       **cli)
        subprocess.run([PAYWATCH, "stores", "create", "Demo", "--solana-recipient", MERCHANT],
                       **cli)
        key = subprocess.run([PAYWATCH, "keys", "create", "--store", "demo"],
                             **cli).stdout.splitlines()[0]
        daemon, base = start(env, tmp_path)
        wait_ready(base, daemon)
        order = post(f"{base}/v1/orders", key, {
            "customer": {"email": "ada@example.com"}, "currency": "USD",
            "items": [{"sku": "MUG", "name": "Mug", "quantity": 2, "unit_price": "15"}]})
        payment = post(f"{base}/v1/payments", key, {"order_id": order["id"], "asset": "SOL"})
        subprocess.run([PAYWATCH, "simnet", "pay", payment["payment_request"]["url"],
                        "--rpc-url", rpc_url, "--state-dir", str(tmp_path / "wallet")], **cli)
        deadline = time.monotonic() + 60
        while True:
            request = urllib.request.Request(f"{base}/v1/payments/{payment['id']}",  # noqa: S310
                                             headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                seen = json.loads(resp.read())
            if seen["status"] == "confirmed" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert seen["status"] == "confirmed"
        assert seen["amount_received"] == payment["amount_due"]
        assert [t["status"] for t in seen["transfers"]] in (["confirmed"], ["finalized"])
        request = urllib.request.Request(f"{base}/v1/orders/{order['id']}",  # noqa: S310
                                         headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            assert json.loads(resp.read())["status"] == "paid"
        metrics = get(f"{base}/metrics")[1].decode()
        assert 'paywatch_payments_confirmed_total{asset="SOL",chain="solana"} 1.0' in metrics
        assert "paywatch_ws_notifications_total" in metrics
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            daemon.communicate(timeout=30)
    assert daemon.returncode == 0
