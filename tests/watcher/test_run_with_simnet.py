"""`paywatch run` against `paywatch simnet`, all as processes: a payment created through the API
and paid with `paywatch simnet pay` is confirmed, and its order is paid."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.conftest import PAYWATCH, clean_env, free_port
from tests.test_daemon import get, start, wait_ready

MERCHANT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


def post(url: str, key: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",  # noqa: S310
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read())


def wait_for_rpc(url: str, seconds: float = 30) -> None:
    """simnet runs in another process: wait until it answers before using it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = post(url, "", {"jsonrpc": "2.0", "id": 1, "method": "getHealth"})
            if answer.get("result") == "ok":
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "simnet did not start"
        time.sleep(0.1)


def test_run_confirms_a_payment_paid_with_simnet_pay(db_dsn: str, tmp_path: Path) -> None:
    rpc_port, ws_port = free_port(), free_port()
    rpc_url, ws_url = f"http://127.0.0.1:{rpc_port}", f"ws://127.0.0.1:{ws_port}"
    chain = subprocess.Popen([PAYWATCH, "simnet", "--rpc-port", str(rpc_port), "--ws-port",
                              str(ws_port), "--slot-ms", "50"], env=clean_env(), cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_SOLANA_RPC_URLS=rpc_url,
                    PAYWATCH_SOLANA_WS_URLS=ws_url)
    cli = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True, "check": True,
           "timeout": 120}
    daemon = None
    try:
        wait_for_rpc(rpc_url)
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
        chain.send_signal(signal.SIGTERM)
        chain.wait(timeout=30)
    assert daemon.returncode == 0
