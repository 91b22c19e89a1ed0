"""Solana Pay transfer request URLs, built and parsed to the spec (docs.solanapay.com/spec):

    solana:<recipient>?amount=<amount>&spl-token=<mint>&reference=<ref>...&label=&message=&memo=

- recipient: the base58 public key of a native SOL account (for SPL tokens the wallet derives
  the associated token account from it and spl-token);
- amount (optional, once): "user" units, not base units ("1.5" SOL, not lamports); a
  non-negative integer or decimal, a leading 0 before the point below 1, no scientific
  notation, and never more decimals than the token has (the wallet rejects the URL);
- spl-token (optional, once): the mint's base58 public key; absent means native SOL;
- reference (optional, repeatable): base58 32-byte values, kept in the order given (wallets
  add them to the transfer instruction in that order);
- label, message, memo (optional, once each): UTF-8, percent-encoded (a space is %20).
Values are encoded like encodeURIComponent in the reference implementation (urllib's quote
with safe=""), and the whole URL stays within 2048 characters: the reference parser refuses
anything longer, and QR codes of that size are already hard to scan."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import parse_qsl, quote

from pydantic import ConfigDict, Field
from solders.pubkey import Pubkey

from paywatch.core.endpoints import ChainEndpoints
from paywatch.core.money import format_units, parse_units
from paywatch.core.validation import solana_address

SCHEME = "solana:"
MAX_URL_LENGTH = 2048
# The reference parser's amount rule (/^\d+(\.\d+)?$/), ASCII digits only.
_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?", re.ASCII)
_SINGLE = ("amount", "spl-token", "label", "message", "memo")
_TEXTS = ("label", "message", "memo")


class SolanaChain(ChainEndpoints):
    """The Solana chain as the operator configures it: an entry of the `chains` list like the
    EVM ones (PAYWATCH_SOLANA_* are folded into it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal["solana"] = "solana"
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] = "solana"
    rpc_urls: Annotated[list[str], Field(min_length=1,
                                         default_factory=lambda: ["http://127.0.0.1:8899"])]
    ws_urls: Annotated[list[str], Field(min_length=1,
                                        default_factory=lambda: ["ws://127.0.0.1:8900"])]
    commitment: Literal["processed", "confirmed", "finalized"] = "confirmed"
    # Run its watcher inside `paywatch run` (off: the watcher runs elsewhere, or nowhere).
    watch: bool = True
    # The cluster's genesis hash the RPC nodes must be on (`paywatch doctor` checks it): an
    # endpoint on devnet by mistake would take free devnet coins for payments.
    genesis_hash: Annotated[str, Field(pattern=r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")] | None = None


# Genesis hashes of the public clusters, to name the network an endpoint is on.
CLUSTERS = {
    "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d": "mainnet-beta",
    "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG": "devnet",
    "4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY": "testnet",
}


def remainder_url(payment_url: str, remaining: int, decimals: int) -> str | None:
    """The same request (same reference, so the watcher adds it to what arrived) asking for a
    smaller amount; None when `payment_url` is not a Solana Pay URL."""
    scheme, sep, rest = payment_url.partition(":")
    if scheme != SCHEME.rstrip(":") or not sep:
        return None
    target, _, query = rest.partition("?")
    params = [p for p in query.split("&") if p and not p.startswith("amount=")]
    # Edited as text: re-encoding the other parameters could change how a wallet reads them.
    return f"solana:{target}?" + "&".join([f"amount={format_units(remaining, decimals)}",
                                           *params])


class SolanaPayError(ValueError):
    """The URL is not a valid Solana Pay transfer request (or cannot be built as one)."""


class UrlTooLong(SolanaPayError):
    def __init__(self, length: int, field: str | None) -> None:
        super().__init__(f"the Solana Pay URL would be {length} characters; the limit is "
                         f"{MAX_URL_LENGTH}" + (f": shorten {field}" if field else ""))
        self.length, self.field = length, field


@dataclass(frozen=True)
class TransferRequest:
    recipient: str
    amount: str | None = None  # whole units as written in the URL, e.g. "1.5"
    spl_token: str | None = None
    references: list[str] = field(default_factory=list)
    label: str | None = None
    message: str | None = None
    memo: str | None = None

    def amount_units(self, decimals: int) -> int | None:
        """The amount in base units; SolanaPayError when it has more decimals than the token
        (the spec says the wallet must then reject the URL as malformed)."""
        if self.amount is None:
            return None
        whole, dot, frac = self.amount.partition(".")
        try:
            return parse_units(f"{int(whole)}{dot}{frac}", decimals)
        except ValueError as exc:
            raise SolanaPayError(f"amount: {exc}") from None

    @property
    def amount_decimal(self) -> Decimal | None:
        return Decimal(self.amount) if self.amount is not None else None


def build_transfer_url(*, recipient: Pubkey | str, amount_base_units: int | None,
                       decimals: int, spl_token: Pubkey | str | None,
                       references: Sequence[Pubkey | str], label: str | None = None,
                       message: str | None = None, memo: str | None = None) -> str:
    """The URL for a transfer request. ValueError for a bad key or amount; UrlTooLong (naming
    the longest text field, which the caller can shorten) beyond 2048 characters."""
    params: list[tuple[str, str]] = []
    if amount_base_units is not None:
        params.append(("amount", format_units(amount_base_units, decimals)))
    if spl_token:
        params.append(("spl-token", solana_address(str(spl_token))))
    params += [("reference", solana_address(str(r))) for r in references]
    texts = {"label": label, "message": message, "memo": memo}
    params += [(k, v) for k, v in texts.items() if v]  # empty means absent, as in the spec lib
    url = SCHEME + solana_address(str(recipient))
    if params:
        url += "?" + "&".join(f"{k}={_encode(k, v)}" for k, v in params)
    if len(url) > MAX_URL_LENGTH:
        longest = max((k for k, v in texts.items() if v), default="reference",
                      key=lambda k: len(_encode(k, texts[k] or "")))
        raise UrlTooLong(len(url), longest)
    return url


def _encode(name: str, value: str) -> str:
    try:
        return quote(value, safe="")
    except UnicodeEncodeError:  # a lone surrogate cannot be UTF-8
        raise SolanaPayError(f"{name} is not valid Unicode text") from None


def parse_transfer_url(url: str) -> TransferRequest:
    """Parse and validate field by field; SolanaPayError says what is wrong. Stricter than the
    reference parser in one way: a single-valued parameter given twice is refused rather than
    silently taking the first. Unknown parameters are ignored, as wallets do."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlTooLong(len(url), None)
    if url[:len(SCHEME)].lower() != SCHEME:
        raise SolanaPayError("a transfer request starts with 'solana:'")
    path, _, query = url[len(SCHEME):].partition("#")[0].partition("?")
    if ":" in path or "%" in path:
        raise SolanaPayError("this is a transaction request (solana:<link>), "
                             "not a transfer request")
    recipient = _key("recipient", path)
    values = _query(query)
    for key in _SINGLE:
        if len(values.get(key, [])) > 1:
            raise SolanaPayError(f"{key} appears more than once")
    first = {key: values[key][0] for key in _SINGLE if key in values}
    return TransferRequest(
        recipient=recipient,
        amount=_amount(first.get("amount")),
        spl_token=_key("spl-token", first["spl-token"]) if "spl-token" in first else None,
        references=[_key("reference", r) for r in values.get("reference", [])],
        # an empty label/message/memo is absent, as in the reference parser
        label=first.get("label") or None, message=first.get("message") or None,
        memo=first.get("memo") or None,
    )


def _query(query: str) -> dict[str, list[str]]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query),
                          errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise SolanaPayError(f"malformed query string: {exc}") from None
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    return values


def _amount(text: str | None) -> str | None:
    if text is None:
        return None
    if not _AMOUNT.fullmatch(text):
        raise SolanaPayError(f"amount {text!r} is not a plain non-negative decimal "
                             "(no sign, no exponent, a leading 0 below 1)")
    return text


def _key(name: str, value: str) -> str:
    try:
        return solana_address(value)
    except ValueError as exc:
        raise SolanaPayError(f"{name}: {exc}") from None
