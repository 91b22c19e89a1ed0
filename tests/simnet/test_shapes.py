"""simnet's answers have the keys and value types of real RPC answers (tests/fixtures/solana,
copied from public sources; see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from solders.keypair import Keypair

from paywatch.core.solanapay import build_transfer_url
from simnet.server import SimnetServer
from simnet.wallet import Wallet

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "solana"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def assert_covers(real: Any, ours: Any, path: str = "$") -> None:
    """Every key of the real answer exists in ours, with a value of the same JSON type."""
    if isinstance(real, dict):
        assert isinstance(ours, dict), f"{path}: expected an object, got {ours!r}"
        for key, value in real.items():
            assert key in ours, f"{path}.{key} missing"
            assert_covers(value, ours[key], f"{path}.{key}")
    elif isinstance(real, list):
        assert isinstance(ours, list), f"{path}: expected an array"
        if real and ours:
            assert_covers(real[0], ours[0], f"{path}[0]")
    elif real is not None and ours is not None:
        assert type(real) is type(ours) or {type(real), type(ours)} <= {int, float}, \
            f"{path}: {type(real).__name__} vs {type(ours).__name__}"


async def call(sim: SimnetServer, method: str, params: list[Any]) -> Any:
    async with aiohttp.ClientSession() as s, s.post(sim.rpc_url, json={
            "jsonrpc": "2.0", "id": 1, "method": method, "params": params}) as resp:
        return await resp.json()


async def test_get_transaction_json_parsed_shape(sim: SimnetServer, wallet: Wallet) -> None:
    sig = await wallet.airdrop(Keypair().pubkey(), 10**7)
    ours = await call(sim, "getTransaction", [sig, {
        "encoding": "jsonParsed", "commitment": "confirmed",
        "maxSupportedTransactionVersion": 0}])
    real = fixture("getTransaction_jsonParsed_sol_system_transfer_v0")
    assert_covers(real, ours)


async def test_signature_statuses_and_history_shapes(sim: SimnetServer, wallet: Wallet) -> None:
    target = Keypair().pubkey()
    sig = await wallet.airdrop(target, 10**7)
    assert_covers(fixture("getSignatureStatuses_response"),
                  await call(sim, "getSignatureStatuses", [[sig]]))
    assert_covers(fixture("getSignaturesForAddress_response"),
                  await call(sim, "getSignaturesForAddress",
                             [str(target), {"commitment": "confirmed"}]))


async def test_token_balances_shape_match_a_mainnet_block(sim: SimnetServer,
                                                          wallet: Wallet) -> None:
    mint = await wallet.create_mint(6, 10**9)
    url = build_transfer_url(recipient=str(Keypair().pubkey()), amount_base_units=12_500,
                             decimals=6, spl_token=str(mint), references=[])
    sig = await wallet.pay(url)
    ours = (await call(sim, "getTransaction", [sig, {
        "encoding": "jsonParsed", "commitment": "confirmed",
        "maxSupportedTransactionVersion": 0}]))["result"]
    real = fixture("getBlock_jsonParsed_tx_with_spl_token_balances")
    assert_covers(real["meta"]["postTokenBalances"], ours["meta"]["postTokenBalances"])
    assert_covers(real["meta"]["preTokenBalances"], ours["meta"]["postTokenBalances"])
    # the recipient's token account was created in this transaction: no pre-balance entry
    assert len(ours["meta"]["preTokenBalances"]) == len(ours["meta"]["postTokenBalances"]) - 1


async def test_logs_notification_shape(sim: SimnetServer, wallet: Wallet) -> None:
    target = Keypair().pubkey()
    request, ack = fixture("logsSubscribe_request_and_ack")
    request["params"][0]["mentions"] = [str(target)]
    request["params"][1] = {"commitment": "confirmed"}
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        await ws.send_json(request)
        our_ack = json.loads((await ws.receive(timeout=5)).data)
        assert_covers(ack, our_ack)
        await wallet.airdrop(target, 10**7)
        note = json.loads((await ws.receive(timeout=5)).data)
    assert_covers(fixture("logsNotification_mentions"), note)
