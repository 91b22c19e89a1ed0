"""PubSub at each commitment, the dead-fork drop, stalled finalization and provider faults."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Processed
from solana.rpc.websocket_api import SolanaWsClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from simnet.server import SimnetServer
from simnet.wallet import Wallet


class Socket:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.next_id = ws, 1

    async def call(self, method: str, params: list[Any]) -> Any:
        self.next_id += 1
        await self.ws.send_json({"jsonrpc": "2.0", "id": self.next_id, "method": method,
                                 "params": params})
        while True:
            message = json.loads((await self.ws.receive(timeout=5)).data)
            if message.get("id") == self.next_id:
                return message

    async def notification(self) -> dict[str, Any]:
        return json.loads((await self.ws.receive(timeout=5)).data)


async def open_socket(sim: SimnetServer, session: aiohttp.ClientSession) -> Socket:
    return Socket(await session.ws_connect(sim.ws_url))


async def test_logs_subscription_notifies_at_its_commitment(sim: SimnetServer,
                                                            wallet: Wallet) -> None:
    target = Keypair().pubkey()
    async with aiohttp.ClientSession() as session:
        sock = await open_socket(sim, session)
        ack = await sock.call("logsSubscribe", [{"mentions": [str(target)]},
                                                {"commitment": "confirmed"}])
        sub_id = ack["result"]
        sig = await wallet.airdrop(target, 10**9)
        note = await sock.notification()
        assert note["method"] == "logsNotification"
        assert note["params"]["subscription"] == sub_id
        value = note["params"]["result"]["value"]
        assert value["signature"] == sig
        assert value["err"] is None
        assert value["logs"][0].startswith("Program 11111111111111111111111111111111 invoke")
        two = await sock.call("logsSubscribe", [{"mentions": [str(target), str(target)]}])
        assert two["error"]["message"] == "Invalid Request: Only 1 address supported"
        assert (await sock.call("logsUnsubscribe", [sub_id]))["result"] is True
        assert "error" in await sock.call("logsUnsubscribe", [sub_id])


async def test_signature_subscription_fires_once_with_received(sim: SimnetServer,
                                                               wallet: Wallet) -> None:
    from solders.message import MessageV0
    from solders.system_program import TransferParams, transfer
    from solders.transaction import VersionedTransaction

    blockhash, _ = sim.ledger.latest_blockhash()
    tx = VersionedTransaction(MessageV0.try_compile(wallet.pubkey, [transfer(TransferParams(
        from_pubkey=wallet.pubkey, to_pubkey=Keypair().pubkey(), lamports=10**9))], [],
        blockhash), [wallet.keypair])
    sig = str(tx.signatures[0])
    async with aiohttp.ClientSession() as session:
        sock = await open_socket(sim, session)
        ack = await sock.call("signatureSubscribe", [sig, {"commitment": "finalized",
                                                           "enableReceivedNotification": True}])
        sim.ledger.submit(tx)
        received = await sock.notification()
        assert received["params"]["result"]["value"] == "receivedSignature"
        final = await sock.notification()
        assert final["params"]["result"]["value"] == {"err": None}
        assert final["params"]["subscription"] == ack["result"]
        assert ack["result"] not in sim.pubsub.subs  # the server cancelled it


async def test_solana_py_websocket_client(sim: SimnetServer, wallet: Wallet) -> None:
    async with SolanaWsClient(sim.ws_url) as ws:
        await ws.slot_subscribe()
        slot_note = await asyncio.wait_for(ws.recv(), 5)
        assert slot_note.result.slot >= 1
        target = Keypair().pubkey()
        await ws.account_subscribe(pubkey=target, commitment=Confirmed)
        await wallet.airdrop(target, 10**9)
        lamports = None
        for _ in range(200):
            note = await asyncio.wait_for(ws.recv(), 5)
            value = getattr(note.result, "value", None)
            if value is not None and hasattr(value, "lamports"):
                lamports = value.lamports
                break
        assert lamports == 10**9


async def test_a_dropped_transaction_never_confirms(sim: SimnetServer, client: AsyncClient,
                                                    wallet: Wallet) -> None:
    from solders.message import MessageV0
    from solders.system_program import TransferParams, transfer
    from solders.transaction import VersionedTransaction

    target = Keypair().pubkey()
    sim._clock.cancel()  # hold the slot clock so the transaction stays `processed`
    blockhash, _ = sim.ledger.latest_blockhash()
    tx = VersionedTransaction(MessageV0.try_compile(wallet.pubkey, [transfer(TransferParams(
        from_pubkey=wallet.pubkey, to_pubkey=target, lamports=10**9))], [], blockhash),
        [wallet.keypair])
    record = sim.ledger.submit(tx)
    assert (await client.get_balance(target, Processed)).value == 10**9
    assert (await client.get_balance(target, Confirmed)).value == 0
    assert await sim.control({"action": "drop", "signature": record.signature}) is True
    for _ in range(12):
        sim.ledger.advance()
    assert (await client.get_balance(target, Processed)).value == 0
    assert (await client.get_signature_statuses([tx.signatures[0]])).value == [None]
    assert (await client.get_balance(wallet.pubkey, Processed)).value == 100 * 10**9


async def test_stalled_finalization(sim: SimnetServer, client: AsyncClient,
                                    wallet: Wallet) -> None:
    await sim.control({"action": "stall_finalization", "stalled": True})
    stuck = (await client.get_slot("finalized")).value
    target = Keypair().pubkey()
    await wallet.airdrop(target, 10**9)
    await sim.wait_slots(12)
    assert (await client.get_slot("finalized")).value == stuck
    assert (await client.get_balance(target, "finalized")).value == 0
    await sim.control({"action": "stall_finalization", "stalled": False})
    await sim.wait_slots(2)
    assert (await client.get_balance(target, "finalized")).value == 10**9


@pytest.mark.parametrize(("kind", "check"), [
    ("http_429", lambda status, body: status == 429 and "Too many requests" in body),
    ("node_behind", lambda status, body: json.loads(body)["error"]["code"] == -32005),
    ("malformed", lambda status, body: body.startswith("<html>")),
])
async def test_provider_faults_then_recovery(sim: SimnetServer, kind: str, check: Any) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{sim.rpc_url}/_simnet/faults",
                          json={"action": "fail_next", "count": 2, "kind": kind}) as resp:
            assert (await resp.json())["result"] == 2
        for _ in range(2):
            async with s.post(sim.rpc_url, json={"jsonrpc": "2.0", "id": 1,
                                                 "method": "getSlot"}) as resp:
                assert check(resp.status, await resp.text())
        async with s.post(sim.rpc_url, json={"jsonrpc": "2.0", "id": 1,
                                             "method": "getHealth"}) as resp:
            assert (await resp.json())["result"] == "ok"


async def test_timeout_fault_and_closing_websockets(sim: SimnetServer) -> None:
    sim.faults.timeout_s = 2
    sim.faults.fail_next(1, "timeout")
    async with aiohttp.ClientSession() as s:
        with pytest.raises(TimeoutError):
            async with s.post(sim.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"},
                              timeout=aiohttp.ClientTimeout(total=0.5)):
                pass
        ws = await s.ws_connect(sim.ws_url)
        assert await sim.control({"action": "close_websockets"}) == 1
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    with pytest.raises(ValueError, match="unknown fault"):
        sim.faults.fail_next(1, "gremlins")
    assert Pubkey.default() is not None
