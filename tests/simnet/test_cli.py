"""`paywatch simnet` as a process, and `paywatch simnet pay` paying a URL made by our API."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from solders.keypair import Keypair

from tests.conftest import PAYWATCH, RECIPIENT, clean_env, free_port, simnet_process


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAYWATCH, "simnet", *args], env=clean_env(), cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


async def rpc(url: str, method: str, params: list[object]) -> object:
    async with aiohttp.ClientSession() as s, s.post(url, json={
            "jsonrpc": "2.0", "id": 1, "method": method, "params": params}) as resp:
        return (await resp.json())["result"]


@pytest.mark.slow
async def test_simnet_pays_a_payment_made_by_the_api(api: TestClient, merchant: dict[str, str],
                                                     tmp_path: Path) -> None:
    rpc_port, ws_port = free_port(), free_port()
    # The chain's output goes to a file (an unread pipe would fill and stall it).
    with (tmp_path / "simnet.log").open("ab") as log:
        chain = await asyncio.create_subprocess_exec(
            PAYWATCH, "simnet", "--rpc-port", str(rpc_port), "--ws-port", str(ws_port),
            "--slot-ms", "50", env=clean_env(), cwd=tmp_path,
            stdout=log, stderr=asyncio.subprocess.STDOUT)
    rpc_url = f"http://127.0.0.1:{rpc_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert await rpc(rpc_url, "getHealth", []) == "ok"
                break
            except aiohttp.ClientError:
                assert time.monotonic() < deadline, "simnet did not start"
                await asyncio.sleep(0.1)
        resp = await api.post("/v1/payments", headers=merchant, json={
            "amount": "30", "currency": "USD", "asset": "SOL", "memo": "ORD-1"})
        payment = await resp.json()
        url = payment["payment_request"]["url"]

        paid = run("pay", url, "--rpc-url", rpc_url, cwd=tmp_path)
        assert paid.returncode == 0, paid.stderr
        signature = paid.stdout.strip()
        found = await rpc(rpc_url, "getSignaturesForAddress", [
            payment["payment_request"]["reference"], {"commitment": "confirmed"}])
        assert [f["signature"] for f in found] == [signature]
        assert found[0]["memo"] == "[5] ORD-1"
        balance = await rpc(rpc_url, "getBalance", [RECIPIENT, {"commitment": "confirmed"}])
        assert balance["value"] == int(payment["amount_due"])  # 30 USD at 150 = 0.2 SOL

        bad = run("pay", "solana:nope", "--rpc-url", rpc_url, cwd=tmp_path)
        assert bad.returncode == 1
        assert "recipient" in bad.stderr
        mint = run("mint", "--rpc-url", rpc_url, "--fund", RECIPIENT, cwd=tmp_path)
        assert mint.returncode == 0, mint.stderr
        supply = await rpc(rpc_url, "getTokenSupply", [mint.stdout.strip(),
                                                       {"commitment": "confirmed"}])
        assert supply["value"]["amount"] == str((1_000_000 + 1000) * 10**6)
    finally:
        chain.send_signal(signal.SIGTERM)
        await asyncio.wait_for(chain.wait(), 30)
    assert chain.returncode == 0
    down = run("airdrop", RECIPIENT, "1", "--rpc-url", rpc_url, cwd=tmp_path)
    assert down.returncode == 1
    assert "cannot reach" in down.stderr or "paywatch simnet" in down.stderr


@pytest.mark.slow
def test_wallet_commands_use_the_configured_rpc_url(tmp_path: Path) -> None:
    """`paywatch simnet pay/airdrop/mint` talk to PAYWATCH_SOLANA_RPC_URLS (the first URL), the
    chain `paywatch run` watches, unless --rpc-url says otherwise."""
    with simnet_process(tmp_path) as (rpc_url, _ws_url):
        env = clean_env(PAYWATCH_SOLANA_RPC_URLS=f"{rpc_url},http://127.0.0.1:1",
                        PAYWATCH_DATA_DIR=str(tmp_path / "data"))

        def simnet(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([PAYWATCH, "simnet", *args], env=env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=120, check=False)

        reference = str(Keypair().pubkey())
        paid = simnet("pay", f"solana:{RECIPIENT}?amount=0.25&reference={reference}")
        assert paid.returncode == 0, paid.stderr
        found = asyncio.run(rpc(rpc_url, "getSignaturesForAddress",
                                [reference, {"commitment": "confirmed"}]))
        assert [f["signature"] for f in found] == [paid.stdout.strip()]
        # The wallet's keypair lives under the configured data dir.
        assert (tmp_path / "data" / "simnet" / "wallet.json").exists()
        airdrop = simnet("airdrop", RECIPIENT, "1")
        assert airdrop.returncode == 0, airdrop.stderr
        mint = simnet("mint", "--fund", RECIPIENT)
        assert mint.returncode == 0, mint.stderr
        supply = asyncio.run(rpc(rpc_url, "getTokenSupply",
                                 [mint.stdout.strip(), {"commitment": "confirmed"}]))
        assert supply["value"]["decimals"] == 6
        # A flag still wins over the configuration.
        elsewhere = simnet("airdrop", RECIPIENT, "1", "--rpc-url", "http://127.0.0.1:1")
        assert elsewhere.returncode == 1
        assert "cannot reach http://127.0.0.1:1" in elsewhere.stderr
