"""The Solana chain behind the one chain interface (paywatch.core.chains.ChainAdapter):
Solana Pay transfer requests with a fresh reference key (and, for a store that opted in, an
amount unique among its open payments to the same wallet and asset, so a transfer without the
reference still matches), and the Solana watcher."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import asyncpg

from paywatch.core.chains import ChainInputError, RefundAsk, Runnable
from paywatch.core.money import format_units
from paywatch.core.payments import PaymentAsk, new_reference
from paywatch.core.solanapay import SolanaChain, UrlTooLong, build_transfer_url, remainder_url
from paywatch.core.txrequest import TxRequestPlan
from paywatch.core.validation import solana_address
from paywatch.services.amounts import pick_unique_amount
from watcher.solana import txrequest
from watcher.solana.service import SolanaWatcher, WatcherConfig

EXPLORER = "https://explorer.solana.com"


class SolanaAdapter:
    family = "solana"
    display_name = "Solana"
    native_asset = "SOL"

    def __init__(self, config: SolanaChain) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def watch(self) -> bool:
        return self.config.watch

    def validate_address(self, address: str) -> str:
        return solana_address(address)

    def derive_address(self, xpub: str, index: int) -> str:
        raise ChainInputError(422, "parameter_invalid",
                              f"{self.name} has no address derivation; set a recipient")

    def resolve_asset(self, asset: str, mint: str | None,
                      decimals: int | None) -> tuple[str | None, int]:
        """Solana assets are described by the store: decimals always, a mint unless SOL."""
        if decimals is None:
            raise ChainInputError(422, "parameter_invalid", f"{asset} needs its decimals",
                                  param="assets")
        if asset != self.native_asset and mint is None:
            raise ChainInputError(422, "parameter_invalid", f"{asset} needs its SPL mint",
                                  param="assets")
        try:
            return (solana_address(mint) if mint else None), decimals
        except ValueError as exc:
            raise ChainInputError(422, "parameter_invalid", str(exc), param="assets") from None

    async def check_payable(self, conn: asyncpg.Connection, store: Mapping[str, Any],
                            ask: PaymentAsk) -> None:
        if not store["solana_recipient"]:
            raise ChainInputError(422, "chain_not_configured",
                                  "this store has no Solana recipient; set one with "
                                  "`paywatch stores update --solana-recipient`", param="chain")

    async def plan_request(self, conn: asyncpg.Connection, store: Mapping[str, Any],
                           values: Mapping[str, Any], ask: PaymentAsk) -> dict[str, Any]:
        reference, amount = new_reference(), values["amount_due"]
        extra: dict[str, Any] = {}
        if store["solana_unique_amount"]:
            amount = await self._unique_amount(conn, store["solana_recipient"], values)
            # The quote keeps what pricing said; amount_due minus it is the uniqueness bump.
            extra = {"amount_due": amount, "unique_amount": True}
        try:
            url = build_transfer_url(
                recipient=store["solana_recipient"], amount_base_units=amount,
                decimals=values["decimals"], spl_token=values["mint"], references=[reference],
                label=ask.label, message=ask.message, memo=ask.memo)
        except UrlTooLong as exc:
            raise ChainInputError(422, "payment_url_too_long", str(exc),
                                  param=exc.field) from None
        # A unique-amount payment keeps its reference: a wallet that attaches it matches by
        # reference, an exchange withdrawal by the amount.
        return {"recipient": store["solana_recipient"], "reference": reference,
                "payment_url": url, "request_type": "solana_pay", "request_chain_id": None,
                **extra}

    async def _unique_amount(self, conn: asyncpg.Connection, recipient: str,
                             values: Mapping[str, Any]) -> int:
        amount = await pick_unique_amount(conn, self.name, recipient, values["mint"],
                                          values["amount_due"], values["decimals"])
        if amount is None:
            raise ChainInputError(503, "unique_amounts_full", "too many open payments of this "
                                  "amount to this wallet; try again later", type_="api_error")
        return amount

    async def plan_refund(self, conn: asyncpg.Connection, store: Mapping[str, Any],
                          ask: RefundAsk) -> dict[str, Any]:
        """A Solana Pay transfer request from the store's wallet (the account the watcher
        already follows, so the outgoing transfer is seen) to the destination, with a fresh
        reference of its own (paywatch.core.chains.Refunds)."""
        source = store["solana_recipient"]
        if not source:
            raise ChainInputError(422, "chain_not_configured",
                                  "this store has no Solana wallet to refund from",
                                  param="chain")
        reference = new_reference()
        try:
            url = build_transfer_url(recipient=ask.destination, amount_base_units=ask.amount,
                                     decimals=ask.decimals, spl_token=ask.mint,
                                     references=[reference], label=ask.label,
                                     message="Refund")
        except UrlTooLong as exc:
            raise ChainInputError(422, "payment_url_too_long", str(exc),
                                  param=exc.field) from None
        return {"source": source, "reference": reference, "payment_url": url,
                "request_type": "solana_pay", "request_chain_id": None}

    def remainder_request(self, payment_url: str, remaining: int, decimals: int) -> str | None:
        return remainder_url(payment_url, remaining, decimals)

    def pay_note(self, payment: Mapping[str, Any]) -> str | None:
        if payment.get("unique_amount"):
            # Matched by its exact amount when the transfer carries no reference.
            amount = format_units(payment["amount_due"], payment["decimals"])
            return (f"Paying from an exchange or typing the transfer by hand? Send exactly "
                    f"{amount} {payment['asset']} to {payment['recipient']}, in one transfer: "
                    "that exact amount is how your payment is recognised. From an exchange, "
                    "make sure the full amount arrives (the withdrawal fee must not be taken "
                    "from it).")
        # Otherwise a Solana Pay payment is matched only by the reference key the request
        # carries.
        return ("Pay with the code or the wallet button: a transfer typed in by hand to the "
                "address cannot be matched to your order.")

    def explorer_tx_url(self, tx: str) -> str | None:
        return f"{EXPLORER}/tx/{tx}"

    def explorer_address_url(self, address: str) -> str | None:
        return f"{EXPLORER}/address/{address}"

    def watcher(self, pool: asyncpg.Pool, session: aiohttp.ClientSession,
                public_url: str | None) -> Runnable:
        config = WatcherConfig(self.config.rpc_urls, self.config.ws_urls,
                               commitment=self.config.commitment,
                               genesis_hash=self.config.genesis_hash)
        return SolanaWatcher(pool, session, config, public_url).run

    async def transaction_request(self, session: aiohttp.ClientSession,
                                  plan: TxRequestPlan) -> bytes:
        """Solana Pay Transaction Requests (paywatch.core.chains.TransactionRequests)."""
        return await txrequest.transaction_request(session, self.config.rpc_urls, plan)
