"""Which accounts to watch: each store's wallet for SOL, and the wallet's associated token
account for each accepted mint (under the mint's own token program, Token or Token-2022)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import get_associated_token_address

from watcher.rpc import RpcError, RpcPool
from watcher.solana import answers

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


async def watched_accounts(assets: Iterable[Any], rpc: RpcPool) -> set[str]:
    accounts: set[str] = set()
    for row in assets:
        recipient = row["recipient"]
        if row["mint"] is None:
            accounts.add(recipient)
            continue
        program = await token_program(row["mint"], rpc)
        accounts.add(str(get_associated_token_address(
            Pubkey.from_string(recipient), Pubkey.from_string(row["mint"]), program)))
    return accounts
