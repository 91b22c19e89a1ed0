"""The EVM half of creating a payment, inside the payment's own transaction: the next deposit
address (the index counter moves with the payment, so a rollback leaves no gap), or on a shared
address an amount no other watched payment has; then the EIP-681 URI for the wallet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from api.errors import ApiError
from db import evm as db_evm
from paywatch.core.evm import EvmChain, checksum, derive_address, eip681_uri
from paywatch.core.payments import shared_amount_range, unique_amount


@dataclass(frozen=True)
class EvmSetup:
    chain: EvmChain
    matching: asyncpg.Record   # the store's store_evm_chains row


async def evm_request(conn: asyncpg.Connection, setup: EvmSetup, store_id: Any,
                      values: dict[str, Any]) -> dict[str, Any]:
    chain, amount = setup.chain, values["amount_due"]
    if setup.matching["mode"] == "deposit_address":
        allocated = await db_evm.allocate_index(conn, store_id, chain.name)
        if allocated is None:  # the store switched modes since the request began
            raise ApiError(409, "chain_settings_changed", "the store's EVM settings changed; "
                           "try again", param="chain")
        address = derive_address(allocated["xpub"], allocated["index"])
        extra: dict[str, Any] = {"derivation_index": allocated["index"]}
    else:
        address = checksum(setup.matching["address"])
        amount = await _unique_amount(conn, chain, address, values)
        # The quote keeps what pricing said; amount_due minus it is the uniqueness bump.
        extra = {"amount_due": amount}
    uri = eip681_uri(chain.chain_id, address, amount, values["mint"])
    return {"recipient": address, "reference": None, "payment_url": uri, **extra}


async def _unique_amount(conn: asyncpg.Connection, chain: EvmChain, address: str,
                         values: dict[str, Any]) -> int:
    low, high = shared_amount_range(values["amount_due"], values["decimals"])
    taken = await db_evm.taken_shared_amounts(conn, chain.name, address, values["mint"],
                                              low, high)
    amount = unique_amount(values["amount_due"], values["decimals"], taken)
    if amount is None:
        raise ApiError(503, "shared_address_full", "too many open payments of this amount on "
                       "the shared address; try again later or use deposit addresses",
                       type_="api_error")
    return amount
