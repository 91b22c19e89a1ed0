"""PubSub with the slot clock held: each subscription speaks at its own commitment, and a
transaction dropped on a dead fork never reaches `confirmed` for any subscriber."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from solders.keypair import Keypair

from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.simnet.test_fidelity import b64, pay_tx


class Socket:
    """Requests and notifications on one connection. `sync` sends a request and returns every
    notification that arrived before its answer: the server writes in order, so anything it
    had to say by then is in the list; no sleeping, no timeouts to guess."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.next_id = ws, 100

    async def request(self, method: str, params: list[Any]) -> tuple[Any, list[dict]]:
        self.next_id += 1
        await self.ws.send_json({"jsonrpc": "2.0", "id": self.next_id, "method": method,
                                 "params": params})
        notes = []
        while True:
            message = json.loads((await self.ws.receive(timeout=10)).data)
            if message.get("id") == self.next_id:
                return message.get("result", message.get("error")), notes
            notes.append(message)

    async def sync(self) -> list[dict]:
        return (await self.request("slotUnsubscribe", [987654321]))[1]


async def send(sim: SimnetServer, tx: object) -> str:
    async with aiohttp.ClientSession() as s, s.post(sim.rpc_url, json={
            "jsonrpc": "2.0", "id": 1, "method": "sendTransaction",
            "params": [b64(tx), {"encoding": "base64"}]}) as resp:
        return (await resp.json())["result"]


def kinds(notes: list[dict]) -> list[str]:
    return [n["method"] for n in notes if n["method"] != "slotNotification"]


async def test_each_subscription_speaks_at_its_commitment(sim: SimnetServer,
                                                          wallet: Wallet) -> None:
    sim.pause()
    target = Keypair().pubkey()
    tx = pay_tx(sim, wallet, target, 10**9)
    sig = str(tx.signatures[0])
    async with aiohttp.ClientSession() as session:
        sock = Socket(await session.ws_connect(sim.ws_url))
        sig_sub, _ = await sock.request("signatureSubscribe", [sig, {
            "commitment": "confirmed", "enableReceivedNotification": True}])
        logs_sub, _ = await sock.request("logsSubscribe", [{"mentions": [str(target)]},
                                                           {"commitment": "processed"}])
        acct_sub, _ = await sock.request("accountSubscribe", [str(target), {
            "commitment": "confirmed", "encoding": "jsonParsed"}])
        final_sub, _ = await sock.request("logsSubscribe", [{"mentions": [str(target)]}])
        assert len({sig_sub, logs_sub, acct_sub, final_sub}) == 4

        assert await send(sim, tx) == sig
        landed = await sock.sync()
        assert kinds(landed) == ["signatureNotification", "logsNotification"]
        assert landed[0]["params"]["result"]["value"] == "receivedSignature"
        assert landed[1]["params"]["subscription"] == logs_sub
        assert landed[1]["params"]["result"]["value"]["signature"] == sig

        sim.advance(1)
        confirmed = await sock.sync()
        assert kinds(confirmed) == ["signatureNotification", "accountNotification"]
        assert confirmed[0]["params"]["result"]["value"] == {"err": None}
        account = confirmed[1]["params"]["result"]["value"]
        assert account["lamports"] == 10**9
        assert account["owner"] == "11111111111111111111111111111111"
        assert sig_sub not in sim.pubsub.subs  # fired at its level, then cancelled

        sim.advance(sim.ledger.finalize_depth)
        finalized = await sock.sync()
        assert kinds(finalized) == ["logsNotification"]
        assert finalized[0]["params"]["subscription"] == final_sub
        ticks = [n for n in finalized if n["method"] == "slotNotification"]
        assert ticks == []  # no slotSubscribe on this socket


async def test_a_dropped_transaction_never_reaches_confirmed_subscribers(
        sim: SimnetServer, wallet: Wallet) -> None:
    sim.pause()
    target = Keypair().pubkey()
    tx = pay_tx(sim, wallet, target, 10**9)
    sig = str(tx.signatures[0])
    async with aiohttp.ClientSession() as session:
        sock = Socket(await session.ws_connect(sim.ws_url))
        await sock.request("signatureSubscribe", [sig, {"commitment": "confirmed"}])
        await sock.request("logsSubscribe", [{"mentions": [str(target)]},
                                             {"commitment": "confirmed"}])
        processed_logs, _ = await sock.request("logsSubscribe", [{"mentions": [str(target)]},
                                                                 {"commitment": "processed"}])
        slot_sub, _ = await sock.request("slotSubscribe", [])
        await send(sim, tx)
        assert kinds(await sock.sync()) == ["logsNotification"]  # processed saw it land
        assert sim.ledger.drop(sig)
        sim.advance(sim.ledger.finalize_depth + 1)
        after = await sock.sync()
        assert kinds(after) == []
        slots = [n["params"]["result"]["slot"] for n in after
                 if n["method"] == "slotNotification"]
        assert len(slots) == sim.ledger.finalize_depth + 1
        assert slots == sorted(slots)
        assert all(n["params"]["subscription"] == slot_sub for n in after)
        assert processed_logs != slot_sub


async def test_pubsub_errors_are_json_rpc_errors(sim: SimnetServer) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(sim.ws_url)
        await ws.send_str("{not json")
        assert json.loads((await ws.receive(timeout=10)).data)["error"]["code"] == -32700
        sock = Socket(ws)
        cases = [("blockSubscribeX", [], -32601),
                 ("accountSubscribe", ["not-a-key"], -32602),
                 ("signatureSubscribe", ["x", {"commitment": "soon"}], -32602),
                 ("logsSubscribe", [{"mentions": "11111111111111111111111111111111"}], -32602),
                 ("logsUnsubscribe", [424242], -32602)]
        for method, params, code in cases:
            error, _ = await sock.request(method, params)
            assert error["code"] == code, method
        # still serving after all that
        slot_sub, _ = await sock.request("slotSubscribe", [])
        assert isinstance(slot_sub, int)
        assert (await sock.request("slotUnsubscribe", [slot_sub]))[0] is True


async def test_subscribing_to_a_signature_already_there_acks_then_notifies(
        sim: SimnetServer, wallet: Wallet) -> None:
    sig = await wallet.airdrop(Keypair().pubkey(), 10**9)  # confirmed by now
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(sim.ws_url)
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "signatureSubscribe",
                            "params": [sig, {"commitment": "confirmed"}]})
        ack = json.loads((await ws.receive(timeout=10)).data)
        note = json.loads((await ws.receive(timeout=10)).data)
        assert ack["id"] == 1
        assert note["method"] == "signatureNotification"
        assert note["params"]["subscription"] == ack["result"]
        assert note["params"]["result"]["value"] == {"err": None}
        assert ack["result"] not in sim.pubsub.subs
