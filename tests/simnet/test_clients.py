"""solana-py's HTTP and WebSocket clients on the methods the other suites do not reach, and the
`paywatch simnet` wallet commands run through their argparse parser against an in-process
simnet (the process-level run is in test_cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import aiohttp
import base58
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Processed
from solana.rpc.models import TokenAccountOpts
from solana.rpc.websocket_api import SolanaWsClient
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.rpc.config import RpcTransactionLogsFilter, RpcTransactionLogsFilterMentions
from solders.rpc.responses import LogsNotification, SignatureNotification
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import get_associated_token_address

from paywatch.cli.simnet import add_simnet_parser
from paywatch.core.solanapay import build_transfer_url
from simnet.server import SimnetServer
from simnet.wallet import Wallet


async def test_more_account_methods_through_solana_py(sim: SimnetServer, client: AsyncClient,
                                                      wallet: Wallet) -> None:
    mint = await wallet.create_mint(6, 7_000_000)
    ata = get_associated_token_address(wallet.pubkey, mint)
    by_program = (await client.get_token_accounts_by_owner(
        wallet.pubkey, TokenAccountOpts(program_id=TOKEN_PROGRAM_ID))).value
    assert [a.pubkey for a in by_program] == [ata]
    assert len(by_program[0].account.data) == 165
    parsed = (await client.get_multiple_accounts_json_parsed([mint, ata])).value
    assert parsed[0].data.parsed["type"] == "mint"
    assert parsed[0].data.parsed["info"]["supply"] == "7000000"
    assert parsed[1].data.parsed["info"]["tokenAmount"]["uiAmountString"] == "7"
    plain = (await client.get_account_info(wallet.pubkey, encoding="base58")).value
    assert plain is not None
    assert plain.data == b""
    assert (await client.get_block_height(Confirmed)).value >= 1
    assert (await client.get_slot(Processed)).value >= (await client.get_slot(Confirmed)).value


async def test_base58_send_and_solana_py_send(sim: SimnetServer, client: AsyncClient,
                                              wallet: Wallet) -> None:
    target = Keypair().pubkey()
    blockhash = (await client.get_latest_blockhash(Confirmed)).value.blockhash
    tx = VersionedTransaction(MessageV0.try_compile(wallet.pubkey, [transfer(TransferParams(
        from_pubkey=wallet.pubkey, to_pubkey=target, lamports=3 * 10**8))], [], blockhash),
        [wallet.keypair])
    async with aiohttp.ClientSession() as s, s.post(sim.rpc_url, json={
            "jsonrpc": "2.0", "id": 1, "method": "sendTransaction",
            "params": [base58.b58encode(bytes(tx)).decode()]}) as resp:
        assert (await resp.json())["result"] == str(tx.signatures[0])
    await wallet.confirm(str(tx.signatures[0]))
    assert (await client.get_balance(target)).value == 3 * 10**8
    sent = await client.send_raw_transaction(bytes(pay(wallet, target, blockhash)))
    await wallet.confirm(str(sent.value))
    assert (await client.get_balance(target)).value == 3 * 10**8 + 1


def pay(wallet: Wallet, to: Pubkey, blockhash: Hash, lamports: int = 1) -> VersionedTransaction:
    return VersionedTransaction(MessageV0.try_compile(wallet.pubkey, [transfer(TransferParams(
        from_pubkey=wallet.pubkey, to_pubkey=to, lamports=lamports))], [], blockhash),
        [wallet.keypair])


async def test_solana_py_websocket_logs_and_signature(sim: SimnetServer, client: AsyncClient,
                                                      wallet: Wallet) -> None:
    target = Keypair().pubkey()
    blockhash = (await client.get_latest_blockhash(Confirmed)).value.blockhash
    tx = pay(wallet, target, blockhash, 10**8)  # a new account must be left rent-exempt
    async with SolanaWsClient(sim.ws_url) as ws:
        logs_sub = await ws.logs_subscribe(
            filter_=RpcTransactionLogsFilterMentions(target), commitment=Confirmed)
        sig_sub = await ws.signature_subscribe(signature=tx.signatures[0], commitment=Confirmed)
        assert logs_sub.subscription_id != sig_sub.subscription_id
        await client.send_raw_transaction(bytes(tx))
        seen: dict[type, Any] = {}
        while len(seen) < 2:
            note = await asyncio.wait_for(ws.recv(), 5)
            seen[type(note)] = note
        logs = seen[LogsNotification]
        assert logs.subscription == logs_sub.subscription_id
        assert logs.result.value.signature == tx.signatures[0]
        assert logs.result.value.err is None
        assert seen[SignatureNotification].result.value.err is None
        await ws.unsubscribe(logs_sub)  # raises unless the server answered true
        everything = await ws.logs_subscribe(filter_=RpcTransactionLogsFilter.All,
                                             commitment=Processed)
        await ws.unsubscribe(everything)


async def run_command(parser: argparse.ArgumentParser, *argv: str) -> int:
    args = parser.parse_args(["simnet", *argv])
    return await asyncio.to_thread(args.func, args)  # the commands run their own event loop


def simnet_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paywatch")
    add_simnet_parser(parser.add_subparsers(dest="command"))
    return parser


async def test_wallet_commands_airdrop_mint_and_pay_spl(sim: SimnetServer, client: AsyncClient,
                                                        tmp_path: Path,
                                                        capsys: object) -> None:
    parser = simnet_parser()
    common = ("--rpc-url", sim.rpc_url, "--state-dir", str(tmp_path))
    merchant, ref = Keypair().pubkey(), Keypair().pubkey()
    assert await run_command(parser, "airdrop", str(merchant), "1.5", *common) == 0
    assert (await client.get_balance(merchant)).value == 1_500_000_000
    assert await run_command(parser, "mint", "--fund", str(merchant), *common) == 0
    mint = json.loads((tmp_path / "mint.json").read_text())["mint"]
    keypair = json.loads((tmp_path / "wallet.json").read_text())
    assert len(keypair) == 64
    assert oct((tmp_path / "wallet.json").stat().st_mode & 0o777) == "0o600"

    url = build_transfer_url(recipient=str(merchant), amount_base_units=4_200_000, decimals=6,
                             spl_token=mint, references=[str(ref)], memo="INV-9")
    assert await run_command(parser, "pay", url, *common) == 0
    history = (await client.get_signatures_for_address(ref)).value
    assert len(history) == 1
    assert history[0].memo == "[5] INV-9"
    merchant_ata = get_associated_token_address(merchant, Pubkey.from_string(mint))
    balance = (await client.get_token_account_balance(merchant_ata)).value
    assert balance.amount == str(1000 * 10**6 + 4_200_000)

    tx = (await client.get_transaction(history[0].signature, "jsonParsed",
                                       max_supported_transaction_version=0)).value
    ixs = tx.transaction.transaction.message.instructions
    transfer_ix = next(ix for ix in ixs if getattr(ix, "parsed", None) is not None
                       and isinstance(ix.parsed, dict)
                       and ix.parsed["type"] == "transferChecked")
    raw = (await client.get_transaction(history[0].signature, "base64",
                                        max_supported_transaction_version=0)).value
    decoded = raw.transaction.transaction
    keys = list(decoded.message.account_keys)
    [compiled] = [ix for ix in decoded.message.instructions
                  if keys[ix.program_id_index] == transfer_ix.program_id]
    # the reference rides on the transfer, read-only and unsigned, right after its accounts
    assert keys[bytes(compiled.accounts)[-1]] == ref
    assert not decoded.message.is_maybe_writable(keys.index(ref))
    assert not decoded.message.is_signer(keys.index(ref))
    assert base64.b64encode(bytes(decoded)).decode()

    assert await run_command(parser, "pay", "solana:not-a-key?amount=1", *common) == 1
