"""An EVM chain behind the one chain interface (paywatch.core.chains.ChainAdapter): EIP-681
requests to the next deposit address (xpub derivation) or, on a shared address, an amount no
other watched payment has; and the EVM watcher."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import asyncpg

from db import evm as db_evm
from paywatch.core.chains import ChainInputError, RefundAsk, Runnable
from paywatch.core.evm import (
    EvmChain,
    checksum,
    derive_address,
    eip681_uri,
    remainder_uri,
    validate_xpub,
)
from paywatch.core.payments import PaymentAsk
from paywatch.services.amounts import pick_unique_amount
from watcher.evm.service import EvmWatcher

# Names the checkout page shows for well-known chain names, unless the operator sets one.
KNOWN_NAMES = {"ethereum": "Ethereum", "anvil": "Anvil (local EVM chain)", "base": "Base",
               "polygon": "Polygon", "arbitrum": "Arbitrum One", "optimism": "OP Mainnet"}


class EvmAdapter:
    family = "evm"

    def __init__(self, config: EvmChain) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def display_name(self) -> str:
        return self.config.display_name or KNOWN_NAMES.get(
            self.name, self.name.replace("-", " ").replace("_", " ").title())

    @property
    def native_asset(self) -> str:
        return self.config.native_symbol

    @property
    def watch(self) -> bool:
        return self.config.watch

    def validate_address(self, address: str) -> str:
        return checksum(address)

    def derive_address(self, xpub: str, index: int) -> str:
        return derive_address(validate_xpub(xpub), index)

    def resolve_asset(self, asset: str, mint: str | None,
                      decimals: int | None) -> tuple[str | None, int]:
        """EVM assets come from the operator's configuration; what the store gives must agree."""
        known = self.config.asset(asset)
        if known is None:
            raise ChainInputError(422, "asset_not_configured",
                                  f"{self.name} has no asset {asset}; configured: "
                                  f"{', '.join(self.config.symbols())}", param="assets")
        contract, known_decimals = known
        given = mint.lower() if mint else None
        if (given is not None and given != (contract or "").lower()) or \
                (decimals is not None and decimals != known_decimals):
            what = contract or "the native coin"
            raise ChainInputError(422, "parameter_invalid",
                                  f"{asset} on {self.name} is {what} with {known_decimals} "
                                  "decimals", param="assets")
        return contract, known_decimals

    async def check_payable(self, conn: asyncpg.Connection, store: Mapping[str, Any],
                            ask: PaymentAsk) -> None:
        if await db_evm.store_chain(conn, store["id"], self.name) is None:
            raise ChainInputError(422, "chain_not_configured",
                                  f"this store has no settings for {self.name}: set `evm` on the "
                                  "store (an xpub for deposit addresses, or a shared address)",
                                  param="chain")
        if ask.memo is not None:
            raise ChainInputError(422, "parameter_invalid", "a memo cannot travel with an EVM "
                                  "transfer; use metadata to keep your own notes", param="memo")

    async def plan_request(self, conn: asyncpg.Connection, store: Mapping[str, Any],
                           values: Mapping[str, Any], ask: PaymentAsk) -> dict[str, Any]:
        """Inside the payment's transaction: the index counter moves with the payment, so a
        rollback leaves no gap in the deposit addresses."""
        matching = await db_evm.store_chain(conn, store["id"], self.name)
        amount = values["amount_due"]
        if matching is None:
            raise _settings_changed()
        if matching["mode"] == "deposit_address":
            allocated = await db_evm.allocate_index(conn, store["id"], self.name)
            if allocated is None:  # the store switched modes since the request began
                raise _settings_changed()
            address = derive_address(allocated["xpub"], allocated["index"])
            extra: dict[str, Any] = {"derivation_index": allocated["index"]}
        else:
            address = checksum(matching["address"])
            amount = await self._unique_amount(conn, address, values)
            # The quote keeps what pricing said; amount_due minus it is the uniqueness bump.
            extra = {"amount_due": amount, "unique_amount": True}
        uri = eip681_uri(self.config.chain_id, address, amount, values["mint"])
        return {"recipient": address, "reference": None, "payment_url": uri,
                "request_type": "eip681", "request_chain_id": self.config.chain_id, **extra}

    async def _unique_amount(self, conn: asyncpg.Connection, address: str,
                             values: Mapping[str, Any]) -> int:
        amount = await pick_unique_amount(conn, self.name, address, values["mint"],
                                          values["amount_due"], values["decimals"])
        if amount is None:
            raise ChainInputError(503, "shared_address_full", "too many open payments of this "
                                  "amount on the shared address; try again later or use "
                                  "deposit addresses", type_="api_error")
        return amount

    async def plan_refund(self, conn: asyncpg.Connection, store: Mapping[str, Any],
                          ask: RefundAsk) -> dict[str, Any]:
        """An EIP-681 request to the destination for the refund's asset and exact amount
        (paywatch.core.chains.Refunds). EVM transfers carry no reference: the watcher matches
        a transfer of that asset and amount to the destination, whichever of the merchant's
        addresses sends it. `source` names where the money is (the shared address, or the
        payment's deposit address), for the merchant's information."""
        matching = await db_evm.store_chain(conn, store["id"], self.name)
        shared = matching is not None and matching["mode"] == "shared_address"
        source = checksum(matching["address"]) if shared and matching else ask.paid_to
        if source is None:
            raise _settings_changed()
        uri = eip681_uri(self.config.chain_id, ask.destination, ask.amount, ask.mint)
        return {"source": source, "reference": None, "payment_url": uri,
                "request_type": "eip681", "request_chain_id": self.config.chain_id}

    def remainder_request(self, payment_url: str, remaining: int, decimals: int) -> str | None:
        return remainder_uri(payment_url, remaining)

    def pay_note(self, payment: Mapping[str, Any]) -> str | None:
        return None

    def explorer_tx_url(self, tx: str) -> str | None:
        base = self.config.explorer_url
        return f"{base.rstrip('/')}/tx/{tx}" if base else None

    def explorer_address_url(self, address: str) -> str | None:
        base = self.config.explorer_url
        return f"{base.rstrip('/')}/address/{address}" if base else None

    def watcher(self, pool: asyncpg.Pool, session: aiohttp.ClientSession,
                public_url: str | None) -> Runnable:
        return EvmWatcher(pool, session, self.config, public_url).run


def _settings_changed() -> ChainInputError:
    return ChainInputError(409, "chain_settings_changed", "the store's EVM settings changed; "
                           "try again", param="chain")
