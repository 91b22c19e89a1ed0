"""Which accounts to watch: each store's wallet for SOL, and the wallet's associated token
account for each accepted mint (under the mint's own token program, Token or Token-2022).

Stores may share a wallet: the oldest of them (db/watch.watched_assets orders them) owns the
account, so what reaches it and pays nothing lands in that store's inbox, always the same one.
The account matches referenceless transfers by amount when any of those stores opted in (the
unique amounts are unique per wallet and asset, whichever store asked)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import get_associated_token_address

from watcher.rpc import RpcError, RpcPool
from watcher.solana import answers
from watcher.solana.matcher import WatchedAccount

log = logging.getLogger("paywatch.watcher.solana.accounts")
_programs: dict[str, Pubkey] = {}


async def token_program(mint: str, rpc: RpcPool) -> Pubkey:
    """The mint account's owner; remembered, since a mint never changes program."""
    if mint not in _programs:
        try:
            value = await rpc.call("getAccountInfo", [mint, {"encoding": "base64",
                                                             "commitment": "confirmed"}],
                                   parse=answers.account_info)
        except RpcError:
            value = None
        if value is None:
            log.warning("mint not found on this chain; assuming the Token program",
                        extra={"mint": mint})
            return TOKEN_PROGRAM_ID
        _programs[mint] = Pubkey.from_string(value["owner"])
    return _programs[mint]


async def watched_accounts(assets: Iterable[Any], rpc: RpcPool) -> dict[str, WatchedAccount]:
    """Account -> what it is, from db/watch.watched_assets' rows (oldest store first)."""
    accounts: dict[str, WatchedAccount] = {}
    for row in assets:
        address = await _account(row["recipient"], row["mint"], rpc)
        owner = accounts.get(address)
        by_amount = bool(row["by_amount"]) or (owner is not None and owner.by_amount)
        if owner is None:
            owner = WatchedAccount(sys.intern(row["recipient"]), sys.intern(row["asset"]),
                                   row["mint"], row["store_id"], by_amount)
        accounts[address] = WatchedAccount(owner.wallet, owner.asset, owner.mint,
                                           owner.store_id, by_amount)
    return accounts


async def _account(recipient: str, mint: str | None, rpc: RpcPool) -> str:
    if mint is None:
        return recipient
    program = await token_program(mint, rpc)
    return str(get_associated_token_address(Pubkey.from_string(recipient),
                                            Pubkey.from_string(mint), program))
