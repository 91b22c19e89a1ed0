"""`paywatch simnet`: run the local chain, and a wallet to use it (airdrop, mint, pay). The CLI
side of simnet lives here, with the rest of the command line: simnet itself imports nothing of
ours, since it is the oracle the watcher is tested against."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from solders.pubkey import Pubkey

from paywatch.cli.common import settings_or_exit
from paywatch.core.money import parse_units
from paywatch.core.redact import mask_url

if TYPE_CHECKING:
    from simnet.wallet import Wallet


def add_simnet_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "simnet", help="A local Solana chain (LiteSVM) and a wallet for it.",
        description="Run simnet, a local Solana JSON-RPC + PubSub server on LiteSVM, or use "
                    "its wallet. With no subcommand, runs the chain.")
    _serve_options(parser)
    parser.set_defaults(func=_serve)
    sub = parser.add_subparsers(dest="simnet_command", metavar="SUBCOMMAND")
    serve = sub.add_parser("serve", help="Run the chain (the default).")
    _serve_options(serve)
    serve.set_defaults(func=_serve)
    airdrop = sub.add_parser("airdrop", help="Send SOL from the faucet to an address.")
    airdrop.add_argument("address")
    airdrop.add_argument("sol", help="amount in SOL, e.g. 2.5")
    _wallet_options(airdrop)
    airdrop.set_defaults(func=_airdrop)
    mint = sub.add_parser("mint", help="Create a USDC-like mint (6 decimals) and fund accounts.")
    mint.add_argument("--decimals", type=int, default=6)
    mint.add_argument("--supply", default="1000000", help="whole tokens minted to the wallet")
    mint.add_argument("--fund", action="append", default=[], metavar="ADDRESS",
                      help="also mint 1000 tokens to this owner (repeatable)")
    _wallet_options(mint)
    mint.set_defaults(func=_mint)
    pay = sub.add_parser("pay", help="Pay a Solana Pay transfer request as a wallet does.")
    pay.add_argument("url", help='a "solana:..." transfer request URL')
    _wallet_options(pay)
    pay.set_defaults(func=_pay)


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--rpc-port", type=int, help="default: the port of the first "
                        "PAYWATCH_SOLANA_RPC_URLS when it is local, else 8899")
    parser.add_argument("--ws-port", type=int, help="default: the port of the first "
                        "PAYWATCH_SOLANA_WS_URLS when it is local, else 8900")
    parser.add_argument("--slot-ms", type=int, default=400, help="milliseconds per slot")
    parser.add_argument("--confirm-depth", type=int, default=1,
                        help="slots until a transaction is confirmed")
    parser.add_argument("--finalize-depth", type=int, default=32,
                        help="slots until a transaction is finalized")


def _wallet_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpc-url", help="the chain to use (default: the first of "
                        "PAYWATCH_SOLANA_RPC_URLS, the one `paywatch run` watches)")
    parser.add_argument("--state-dir", type=Path,
                        help="where the simnet wallet keeps its keypair "
                             "(default: $PAYWATCH_DATA_DIR/simnet)")


def _resolve_wallet_options(args: argparse.Namespace) -> None:
    """Fill what the flags left out from the configuration, so the wallet pays on the chain
    the daemon watches rather than on a fixed port."""
    if args.rpc_url is not None and args.state_dir is not None:
        return
    settings = settings_or_exit()
    args.rpc_url = args.rpc_url or settings.solana_rpc_urls[0]
    args.state_dir = args.state_dir or settings.data_dir / "simnet"


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _local_port(url: str, usual: int) -> int:
    """The port of a configured URL on this machine, so a bare `paywatch simnet` serves where
    `paywatch run` looks; a remote URL is not ours to imitate."""
    parts = urlsplit(url)
    return (parts.port or usual) if parts.hostname in LOCAL_HOSTS else usual


def _serve(args: argparse.Namespace) -> int:
    from simnet.server import SimnetServer  # the chain itself: this command only (cli/__init__)

    if args.rpc_port is None or args.ws_port is None:
        settings = settings_or_exit()
        if args.rpc_port is None:
            args.rpc_port = _local_port(settings.solana_rpc_urls[0], 8899)
        if args.ws_port is None:
            args.ws_port = _local_port(settings.solana_ws_urls[0], 8900)

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with SimnetServer(args.host, args.rpc_port, args.ws_port, args.slot_ms,
                                confirm_depth=args.confirm_depth,
                                finalize_depth=args.finalize_depth) as sim:
            print(f"simnet: JSON-RPC {sim.rpc_url}  PubSub {sim.ws_url}  "
                  f"slot {args.slot_ms} ms  (Ctrl-C to stop)", flush=True)
            await stop.wait()

    try:
        asyncio.run(go())
    except OSError as exc:
        print(f"paywatch simnet: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


def _with_wallet(args: argparse.Namespace,
                 work: Callable[[Wallet], Awaitable[str]]) -> int:
    from solana.exceptions import SolanaRpcException
    from solana.rpc.async_api import AsyncClient
    from solana.rpc.commitment import Confirmed

    from simnet.wallet import Wallet, WalletError, load_keypair

    _resolve_wallet_options(args)

    async def go() -> str:
        client = AsyncClient(args.rpc_url, commitment=Confirmed, timeout=30)
        try:
            wallet = Wallet(load_keypair(args.state_dir / "wallet.json"), client)
            return await work(wallet)
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    try:
        print(asyncio.run(go()))
    except (WalletError, ValueError) as exc:
        print(f"paywatch simnet: {exc}", file=sys.stderr)
        return 1
    except (OSError, SolanaRpcException) as exc:
        print(f"paywatch simnet: cannot reach {mask_url(args.rpc_url)}: {exc}", file=sys.stderr)
        return 1
    return 0


def _airdrop(args: argparse.Namespace) -> int:
    async def work(wallet: Wallet) -> str:
        return await wallet.airdrop(Pubkey.from_string(args.address), parse_units(args.sol, 9))

    return _with_wallet(args, work)


def _mint(args: argparse.Namespace) -> int:
    async def work(wallet: Wallet) -> str:
        await wallet.airdrop(wallet.pubkey, 10 * 10**9)
        supply = parse_units(args.supply, args.decimals)
        mint = await wallet.create_mint(args.decimals, supply)
        for owner in args.fund:
            await wallet.mint_to(mint, Pubkey.from_string(owner), 1000 * 10**args.decimals)
        (args.state_dir / "mint.json").write_text(json.dumps({"mint": str(mint),
                                                              "decimals": args.decimals}))
        return str(mint)

    return _with_wallet(args, work)


def _pay(args: argparse.Namespace) -> int:
    async def work(wallet: Wallet) -> str:
        balance = (await wallet.client.get_balance(wallet.pubkey)).value
        if balance < 10**9:  # a fresh demo wallet funds itself from the faucet
            await wallet.airdrop(wallet.pubkey, 100 * 10**9)
        return await wallet.pay(args.url)

    return _with_wallet(args, work)
