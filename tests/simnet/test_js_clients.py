"""The official JavaScript clients against simnet, run by node: @solana/pay 1.x on @solana/kit
and @solana/pay 0.2 on @solana/web3.js 1.x, each through a wallet flow (parse a URL,
createTransfer, sign, send, confirm) and a merchant flow (findReference, validateTransfer), for
SOL and for an SPL token whose mint and accounts the client creates itself. And both official
parsers reading a Solana Pay URL made by our API."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from simnet.server import SimnetServer
from tests.conftest import RECIPIENT

JS = Path(__file__).resolve().parent.parent / "js"
pytestmark = pytest.mark.skipif(
    not (JS / "node_modules").is_dir() or shutil.which("node") is None,
    reason="node and tests/js/node_modules are needed: scripts/test runs npm ci for them")


async def node(script: str, *args: str) -> dict:
    proc = await asyncio.create_subprocess_exec(
        "node", str(JS / script), *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode == 0, err.decode()[-4000:]
    return json.loads(out.decode().strip().splitlines()[-1])


@pytest.mark.parametrize("script", ["kit_pay_flow.mjs", "web3js_pay_flow.mjs"])
async def test_official_clients_pay_and_validate_on_simnet(script: str) -> None:
    async with SimnetServer(rpc_port=0, ws_port=0, slot_ms=40) as sim:
        result = await node(script, sim.rpc_url, sim.ws_url)
        assert result["ok"] is True
        for kind in ("sol", "spl"):
            record = sim.ledger.txs[result[kind]["signature"]]
            assert record.err is None
            assert sim.ledger.level_of(record) in ("confirmed", "finalized")
        spl = sim.ledger.txs[result["spl"]["signature"]]
        [post] = [b for b in spl.post_token_balances if b["owner"] == result["merchant"]]
        [pre] = [b for b in spl.pre_token_balances if b["owner"] == result["merchant"]]
        assert int(post["uiTokenAmount"]["amount"]) - int(pre["uiTokenAmount"]["amount"]) \
            == 12_500_000


async def test_official_parsers_read_our_payment_urls(api: TestClient,
                                                      merchant: dict[str, str]) -> None:
    resp = await api.post("/v1/payments", headers=merchant, json={
        "amount": "19.99", "currency": "USD", "asset": "USDC", "label": "Café & Co",
        "message": "Order #42 – thanks!", "memo": "ORD 42"})
    payment = await resp.json()
    parsed = await node("parse_url.mjs", payment["payment_request"]["url"])
    for reader in ("legacy", "kit"):
        fields = parsed[reader]
        assert fields["recipient"] == RECIPIENT
        assert fields["amount"] == "19.99"
        assert fields["splToken"] == payment["mint"]
        assert fields["reference"] == [payment["payment_request"]["reference"]]
        assert fields["label"] == "Café & Co"
        assert fields["message"] == "Order #42 – thanks!"
        assert fields["memo"] == "ORD 42"
