"""The chain reads a Solana Pay Transaction Request needs, for the Solana adapter
(SolanaAdapter.transaction_request): a recent blockhash, and for a token payment the mint's
program (Token or Token-2022) and whether the merchant's associated token account exists yet.
The transaction itself is built by paywatch.core.txrequest, pure.

A wallet is waiting on the answer, so the reads are concurrent and the RPC pool gives up
sooner than the watcher's (short timeout, two rounds): an unavailable chain becomes the API's
503 with Retry-After rather than a request hanging for a minute."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import aiohttp
from solders.pubkey import Pubkey
from spl.token.instructions import get_associated_token_address

from paywatch.core.chains import ChainUnavailable
from paywatch.core.txrequest import ChainFacts, TxRequestPlan, build_transaction
from watcher.rpc import RpcError, RpcPool, RpcUnavailable
from watcher.solana import answers
from watcher.solana.accounts import token_program

TIMEOUT_S = 5.0
ROUNDS = 2

# One pool per (HTTP session, endpoints): its circuit breakers outlive a single request.
_pools: weakref.WeakKeyDictionary[aiohttp.ClientSession, dict[tuple[str, ...], RpcPool]] = (
    weakref.WeakKeyDictionary())


def rpc_pool(session: aiohttp.ClientSession, urls: list[str]) -> RpcPool:
    pools = _pools.setdefault(session, {})
    key = tuple(urls)
    if key not in pools:
        pools[key] = RpcPool(urls, session, timeout_s=TIMEOUT_S, rounds=ROUNDS)
    return pools[key]


def blockhash_answer(raw: Any) -> str:
    """getLatestBlockhash: {"value": {"blockhash": <base58>, ...}}."""
    value = raw.get("value") if isinstance(raw, dict) else None
    blockhash = value.get("blockhash") if isinstance(value, dict) else None
    if not isinstance(blockhash, str):
        raise ValueError("getLatestBlockhash answered without a blockhash")
    return blockhash


async def _latest_blockhash(rpc: RpcPool) -> str:
    return await rpc.call("getLatestBlockhash", [{"commitment": "confirmed"}],
                          parse=blockhash_answer)


async def chain_facts(rpc: RpcPool, plan: TxRequestPlan) -> ChainFacts:
    """What the chain says now, for `plan`; ChainUnavailable when it cannot be read."""
    try:
        if plan.mint is None:
            return ChainFacts(await _latest_blockhash(rpc))
        program = await token_program(plan.mint, rpc)  # remembered after the first read
        account = get_associated_token_address(Pubkey.from_string(plan.recipient),
                                               Pubkey.from_string(plan.mint), program)
        blockhash, existing = await asyncio.gather(_latest_blockhash(rpc), rpc.call(
            "getAccountInfo", [str(account), {"encoding": "base64", "commitment": "confirmed"}],
            parse=answers.account_info))
    except (RpcUnavailable, RpcError) as exc:
        raise ChainUnavailable(f"the Solana nodes did not answer ({type(exc).__name__})") \
            from None
    return ChainFacts(blockhash, program, existing is not None)


async def transaction_request(session: aiohttp.ClientSession, urls: list[str],
                              plan: TxRequestPlan) -> bytes:
    facts = await chain_facts(rpc_pool(session, urls), plan)
    return build_transaction(plan, facts)
