"""The paying side of bench/e2e_latency.py --split, in a process of its own: pays Solana Pay
URLs at a steady rate and records when each transfer reaches `confirmed` (a signatureSubscribe
notification from the chain).

    python bench/e2e_payer.py RPC_URL WS_URL RATE IN.json OUT.json

IN.json: [{"id": payment id, "url": Solana Pay URL}, ...]; OUT.json: {payment id: [signature,
unix time confirmed or null]}, plus the achieved pay rate under "_rate"."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair

from simnet.wallet import Wallet


async def pay_all(rpc_url: str, ws_url: str, rate: float,
                  payments: list[dict[str, str]]) -> dict[str, Any]:
    wallet = Wallet(Keypair(), AsyncClient(rpc_url, commitment="confirmed"))
    await wallet.airdrop(wallet.pubkey, 10_000 * 10**9)
    confirmed: dict[str, float] = {}
    by_request: dict[int, str] = {}
    by_subscription: dict[int, str] = {}
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        async def read() -> None:
            async for msg in ws:
                note = json.loads(msg.data)
                if "id" in note and isinstance(note.get("result"), int):
                    by_subscription[note["result"]] = by_request.pop(note["id"])
                elif note.get("method") == "signatureNotification":
                    sig = by_subscription.get(note["params"]["subscription"])
                    if sig is not None:
                        confirmed.setdefault(sig, time.time())

        reader = asyncio.create_task(read())
        signatures: dict[str, str] = {}

        async def pay(n: int, p: dict[str, str]) -> None:
            sig = str(await wallet.pay(p["url"]))
            signatures[p["id"]] = sig
            by_request[n] = sig
            await ws.send_json({"jsonrpc": "2.0", "id": n, "method": "signatureSubscribe",
                                "params": [sig, {"commitment": "confirmed"}]})

        started = time.monotonic()
        tasks = []
        for n, p in enumerate(payments):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            tasks.append(asyncio.create_task(pay(n, p)))
        await asyncio.gather(*tasks)
        achieved = len(payments) / (time.monotonic() - started)
        deadline = time.monotonic() + 30
        while len(confirmed) < len(signatures) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        reader.cancel()
    out: dict[str, Any] = {pid: [sig, confirmed.get(sig)] for pid, sig in signatures.items()}
    out["_rate"] = achieved
    return out


def main() -> None:
    rpc_url, ws_url, rate, source, target = sys.argv[1:6]
    with open(source) as f:
        payments = json.load(f)
    result = asyncio.run(pay_all(rpc_url, ws_url, float(rate), payments))
    with open(target, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
