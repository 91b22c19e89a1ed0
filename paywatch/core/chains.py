"""The one interface every chain implements (ports and adapters): what the API, the checkout
page, the serializers and the composition root need from a chain, and nothing more.

A chain family's adapter lives in its watcher package (watcher/solana/adapter.py,
watcher/evm/adapter.py); the composition root (paywatch/chains.py) builds one adapter per
configured chain into a `ChainRegistry` and hands it to the API and the daemon. Code outside the
adapters looks a chain up by the payment's `chain` column and never branches on its name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import aiohttp
import asyncpg

from paywatch.core.payments import PaymentAsk
from paywatch.core.txrequest import TxRequestPlan

# A watcher's main loop: the composition root runs it under leader election and supervision.
Runnable = Callable[[], Awaitable[None]]


class ChainInputError(Exception):
    """A request the chain cannot serve (unconfigured store, unknown asset, URL too long...):
    the API turns it into its error body with this status, code and param."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 type_: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param, self.type = (
            status, code, message, param, type_)


class ChainAdapter(Protocol):
    """One configured chain. `name` is the payments.chain value; `family` the implementation."""

    @property
    def name(self) -> str: ...

    @property
    def family(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    @property
    def native_asset(self) -> str: ...

    @property
    def watch(self) -> bool:
        """Whether this deployment watches the chain (readiness waits for its watcher)."""
        ...

    def validate_address(self, address: str) -> str:
        """The address in its canonical form; ValueError when it is not one of this chain's."""
        ...

    def derive_address(self, xpub: str, index: int) -> str:
        """The receiving address at `index` under an extended public key; ChainInputError on
        chains without derivation."""
        ...

    def resolve_asset(self, asset: str, mint: str | None,
                      decimals: int | None) -> tuple[str | None, int]:
        """(mint or contract, decimals) a store may accept as `asset`; ChainInputError if not."""
        ...

    async def check_payable(self, conn: asyncpg.Connection, store: Mapping[str, Any],
                            ask: PaymentAsk) -> None:
        """Before pricing: raise ChainInputError when this store cannot take a payment here."""
        ...

    async def plan_request(self, conn: asyncpg.Connection, store: Mapping[str, Any],
                           values: Mapping[str, Any], ask: PaymentAsk) -> dict[str, Any]:
        """Inside the payment's transaction: the columns of its request (recipient, reference,
        payment_url, and any the chain adjusts such as amount_due)."""
        ...

    def remainder_request(self, payment_url: str, remaining: int, decimals: int) -> str | None:
        """The request for what is still missing, or None (the page shows address + amount)."""
        ...

    def pay_note(self, payment: Mapping[str, Any]) -> str | None:
        """An extra sentence for the checkout page on how to pay this payment (its row) on this
        chain: a unique-amount payment, for one, can be paid by a plain transfer."""
        ...

    def explorer_tx_url(self, tx: str) -> str | None: ...

    def explorer_address_url(self, address: str) -> str | None: ...

    def watcher(self, pool: asyncpg.Pool, session: aiohttp.ClientSession,
                public_url: str | None) -> Runnable:
        """This chain's watcher, ready to run (the composition root supervises it); its payment
        events link to checkout under `public_url` like the API's answers."""
        ...


class ChainUnavailable(Exception):
    """The chain's nodes did not answer (every RPC endpoint failed): the API answers 503 with
    Retry-After. The message names no endpoint (their URLs may hold API keys)."""


@runtime_checkable
class TransactionRequests(Protocol):
    """A chain that answers Solana Pay Transaction Requests (only the Solana adapter): it reads
    what the transaction needs from the chain (a recent blockhash, the mint's token program,
    whether the merchant's token account exists) and builds it (paywatch.core.txrequest)."""

    async def transaction_request(self, session: aiohttp.ClientSession,
                                  plan: TxRequestPlan) -> bytes:
        """The unsigned transaction for `plan`, serialized; ChainUnavailable when the chain
        cannot be read now."""
        ...


@dataclass(frozen=True)
class RefundAsk:
    """What a refund request carries: `amount` base units of the payment's asset (`mint`,
    `decimals`) to `destination`, already in the chain's canonical form."""
    destination: str
    amount: int
    mint: str | None
    decimals: int
    label: str | None = None
    paid_to: str | None = None  # the payment's recipient (an EVM deposit address holds its money)


@runtime_checkable
class Refunds(Protocol):
    """A chain that can ask the merchant's own wallet to send money back (paywatch never
    signs): it builds the payment request, in the other direction, inside the refund's
    transaction (paywatch/services/refunds.py)."""

    async def plan_refund(self, conn: asyncpg.Connection, store: Mapping[str, Any],
                          ask: RefundAsk) -> dict[str, Any]:
        """The refund's request columns: source (the merchant's wallet that signs), reference
        (a fresh one, or None when the chain matches refunds otherwise), payment_url,
        request_type, request_chain_id. ChainInputError when the store cannot send one here."""
        ...


class ChainRegistry:
    """The configured chains by name, in configuration order."""

    def __init__(self, adapters: list[ChainAdapter]) -> None:
        names = [a.name for a in adapters]
        if len(set(names)) != len(names):
            raise ValueError(f"chain names must be unique, got {names}")
        self._by_name = {a.name: a for a in adapters}

    def __iter__(self) -> Iterator[ChainAdapter]:
        return iter(self._by_name.values())

    def get(self, name: str) -> ChainAdapter | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return list(self._by_name)

    def require(self, name: str, param: str) -> ChainAdapter:
        adapter = self._by_name.get(name)
        if adapter is None:
            raise ChainInputError(422, "chain_not_configured",
                                  f"no chain {name!r} is configured; configured: "
                                  f"{', '.join(self._by_name)}", param=param)
        return adapter

    def display_name(self, name: str) -> str:
        """A payment on a chain since removed from the configuration still gets a name."""
        adapter = self._by_name.get(name)
        if adapter is not None:
            return adapter.display_name
        return name.replace("-", " ").replace("_", " ").title()

    def watched(self) -> list[str]:
        return [a.name for a in self if a.watch]
