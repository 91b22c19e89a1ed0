"""anvil (a real EVM node, from the npm package @foundry-rs/anvil-linux-amd64) for the tests:
start it on a free port, talk JSON-RPC to it, deploy the ERC-20 compiled from
tests/evm/contracts/TestToken.sol (and the Forwarder that pays by internal call), send ETH and
tokens from its unlocked accounts, mine, reorg."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
ANVIL = ROOT / "tests" / "js" / "node_modules" / ".bin" / "anvil"
CONTRACTS = ROOT / "tests" / "evm" / "contracts"
CHAIN_ID = 31337


@functools.cache
def compiled(contract: str) -> dict[str, Any]:
    """A test contract's ABI and bytecode, compiled from contracts/<contract>.sol by solc-js
    (once per session)."""
    out = subprocess.run(["node", str(ROOT / "tests" / "js" / "compile_sol.mjs"),
                          str(CONTRACTS / f"{contract}.sol"), contract], capture_output=True,
                         text=True, check=True, timeout=120)
    return json.loads(out.stdout)


@contextlib.contextmanager
def anvil_process(block_time: float | None = None) -> Iterator[tuple[str, str]]:
    """A fresh anvil on a free port; yields its HTTP and WebSocket URLs."""
    port = free_port()
    args = [str(ANVIL), "--port", str(port), "--host", "127.0.0.1", "--chain-id",
            str(CHAIN_ID), "--silent"]
    if block_time is not None:
        args += ["--block-time", str(block_time)]
    # Its output goes to a file, never to a pipe nobody reads (a full pipe stalls the node).
    log = Path(tempfile.mkdtemp(prefix="anvil-")) / "anvil.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc, log)
        yield url, f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        # A failed start already quoted the log; a finished run leaves no directory behind
        # (hundreds piled up in /tmp over a few suite runs).
        shutil.rmtree(log.parent, ignore_errors=True)


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 20
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId",
                       "params": []}).encode()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"anvil exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError):
            request = urllib.request.Request(  # noqa: S310 (a loopback http URL we made)
                url, body, {"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=1):  # noqa: S310
                return
        time.sleep(0.05)
    raise RuntimeError("anvil did not start within 20 s")


class Anvil:
    def __init__(self, url: str, ws_url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.ws_url, self.session = url, ws_url, session
        self.accounts: list[str] = []

    async def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        async with self.session.post(self.url, json={"jsonrpc": "2.0", "id": 1,
                                                     "method": method,
                                                     "params": params or []}) as resp:
            answer = await resp.json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    async def start(self) -> Anvil:
        self.accounts = [to_checksum_address(a) for a in await self.rpc("eth_accounts")]
        return self

    async def head(self) -> int:
        return int(await self.rpc("eth_blockNumber"), 16)

    async def mine(self, blocks: int = 1) -> None:
        await self.rpc("anvil_mine", [hex(blocks)])

    async def automine(self, on: bool) -> None:
        await self.rpc("evm_setAutomine", [on])

    async def send(self, tx: dict[str, Any], sender: int = 0) -> str:
        return str(await self.rpc("eth_sendTransaction", [{"from": self.accounts[sender], **tx}]))

    async def pay_eth(self, to: str, wei: int, sender: int = 1) -> str:
        return await self.send({"to": to, "value": hex(wei)}, sender)

    async def pay_token(self, token: str, to: str, amount: int, sender: int = 1) -> str:
        return await self.send({"to": token, "data": transfer_data(to, amount)}, sender)

    async def receipt(self, tx_hash: str) -> dict[str, Any]:
        for _ in range(100):
            found = await self.rpc("eth_getTransactionReceipt", [tx_hash])
            if found is not None:
                return dict(found)
            await asyncio.sleep(0.05)
        raise AssertionError(f"no receipt for {tx_hash}")

    async def deploy_token(self, name: str, symbol: str, decimals: int, supply: int,
                           holders: list[int] | None = None) -> str:
        """Deploy the ERC-20 from account 0 and give each holder account a tenth of it."""
        args = encode(["string", "string", "uint8", "uint256"], [name, symbol, decimals, supply])
        token = await self._deploy(compiled("TestToken")["bytecode"] + args.hex())
        for holder in holders or [1, 2]:
            await self.receipt(await self.pay_token(token, self.accounts[holder], supply // 10,
                                                    sender=0))
        return token

    async def _deploy(self, code: str) -> str:
        tx = await self.send({"data": code, "gas": hex(3_000_000)})
        return to_checksum_address((await self.receipt(tx))["contractAddress"])

    async def deploy_forwarder(self) -> str:
        """The Forwarder (tests/evm/contracts/Forwarder.sol): ETH paid by an internal call."""
        return await self._deploy(compiled("Forwarder")["bytecode"])

    async def forward(self, forwarder: str, to: str, wei: int, function: str = "forward",
                      sender: int = 1) -> str:
        """Call forward / forwardTryCatch / forwardThenRevert(to) with `wei`: the Forwarder
        pays `to` inside the call. The gas is given, so a call that reverts is still sent."""
        data = "0x" + (keccak(text=f"{function}(address)")[:4] + encode(["address"], [to])).hex()
        return await self.send({"to": forwarder, "value": hex(wei), "data": data,
                                "gas": hex(300_000)}, sender)

    async def split(self, forwarder: str, pays: list[tuple[str, int]], sender: int = 1) -> str:
        """One transaction, several internal payments: split(to[], amounts[])."""
        args = encode(["address[]", "uint256[]"], [[to for to, _ in pays], [w for _, w in pays]])
        data = "0x" + (keccak(text="split(address[],uint256[])")[:4] + args).hex()
        return await self.send({"to": forwarder, "value": hex(sum(w for _, w in pays)),
                                "data": data, "gas": hex(500_000)}, sender)

    async def reorg(self, depth: int, txs: list[tuple[dict[str, Any], int]] | None = None) -> None:
        """anvil_reorg: replace the last `depth` blocks; `txs` go into the new ones."""
        await self.rpc("anvil_reorg", [depth, [[{"from": self.accounts[1], **tx}, at]
                                               for tx, at in txs or []]])


def transfer_data(to: str, amount: int) -> str:
    selector = keccak(text="transfer(address,uint256)")[:4]
    return "0x" + (selector + encode(["address", "uint256"], [to, amount])).hex()
