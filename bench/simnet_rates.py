"""simnet throughput: sustained sendTransaction and getTransaction rates over HTTP JSON-RPC,
with simnet in its own process (`paywatch simnet`) and the client here.

    .venv/bin/python bench/simnet_rates.py [--count 3000] [--concurrency 16]

Prints transactions/second and requests/second; asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import time
from pathlib import Path

import aiohttp
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

BIN = Path(sys.executable).parent


async def call(session: aiohttp.ClientSession, url: str, method: str, params: list) -> dict:
    async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                       "params": params}) as resp:
        return await resp.json()


async def fund(session: aiohttp.ClientSession, url: str, payers: list[Keypair]) -> None:
    for payer in payers:
        await call(session, url, "requestAirdrop", [str(payer.pubkey()), 100 * 10**9])


def sign_all(payers: list[Keypair], count: int, blockhash: Hash) -> list[str]:
    txs = []
    for i in range(count):
        payer = payers[i % len(payers)]
        ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(),
                                     lamports=1_000_000 + i))
        msg = MessageV0.try_compile(payer.pubkey(), [ix], [], blockhash)
        txs.append(base64.b64encode(bytes(VersionedTransaction(msg, [payer]))).decode())
    return txs


async def hammer(session: aiohttp.ClientSession, url: str, requests: list[tuple[str, list]],
                 concurrency: int) -> tuple[float, list[dict]]:
    queue: asyncio.Queue[tuple[str, list]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    answers: list[dict] = []

    async def worker() -> None:
        while not queue.empty():
            method, params = queue.get_nowait()
            answers.append(await call(session, url, method, params))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, answers


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=18899)
    args = parser.parse_args()
    chain = await asyncio.create_subprocess_exec(
        str(BIN / "paywatch"), "simnet", "--rpc-port", str(args.port), "--ws-port",
        str(args.port + 1), stdout=asyncio.subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    await call(session, url, "getHealth", [])
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            payers = [Keypair() for _ in range(32)]
            await fund(session, url, payers)
            latest = await call(session, url, "getLatestBlockhash",
                                [{"commitment": "confirmed"}])
            blockhash = Hash.from_string(latest["result"]["value"]["blockhash"])
            txs = sign_all(payers, args.count, blockhash)
            sends = [("sendTransaction", [tx, {"encoding": "base64", "skipPreflight": False}])
                     for tx in txs]
            took, answers = await hammer(session, url, sends, args.concurrency)
            sigs = [a["result"] for a in answers if "result" in a]
            print(f"simnet in its own process; client concurrency {args.concurrency}")
            print(f"sendTransaction (with preflight): {len(sigs)}/{args.count} accepted in "
                  f"{took:.2f} s = {len(sigs) / took:.0f} tx/s")
            await asyncio.sleep(1.5)  # let them reach `confirmed`
            for encoding in ("json", "jsonParsed"):
                gets = [("getTransaction", [s, {"commitment": "confirmed", "encoding": encoding,
                                                "maxSupportedTransactionVersion": 0}])
                        for s in sigs]
                took, answers = await hammer(session, url, gets, args.concurrency)
                found = sum(1 for a in answers if a.get("result"))
                print(f"getTransaction ({encoding}): {found}/{len(gets)} found in {took:.2f} s "
                      f"= {len(gets) / took:.0f} req/s")
    finally:
        chain.terminate()
        await chain.wait()


if __name__ == "__main__":
    asyncio.run(main())
