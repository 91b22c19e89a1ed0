"""The wallet's reading of a Solana Pay transfer request URL, written on its own from the
specification's "Transfer request" section: simnet is the oracle paywatch is tested against,
so it shares no code with paywatch's own Solana Pay module.

    solana:<recipient>?amount=<decimal>&spl-token=<mint>&reference=<key>...&label=&message=&memo=

Wallets read the amount as a decimal number of whole SOL or tokens ("0.2" is 200,000,000
lamports), and refuse more decimals than the asset has."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

from solders.pubkey import Pubkey

_AMOUNT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")


class PayUrlError(ValueError):
    pass


@dataclass(frozen=True)
class TransferUrl:
    recipient: Pubkey
    amount: str | None
    spl_token: Pubkey | None
    references: list[Pubkey]
    memo: str | None


def read_transfer_url(url: str) -> TransferUrl:
    if not url.startswith("solana:"):
        raise PayUrlError("not a Solana Pay URL: it starts with 'solana:'")
    path, _, query = url[len("solana:"):].partition("?")
    fields = parse_qs(query, keep_blank_values=True)
    amount = _one(fields, "amount")
    if amount is not None and not _AMOUNT.fullmatch(amount):
        raise PayUrlError(f"amount {amount!r} is not a plain decimal number")
    token = _one(fields, "spl-token")
    return TransferUrl(recipient=_pubkey("recipient", unquote(path)), amount=amount,
                       spl_token=_pubkey("spl-token", token) if token else None,
                       references=[_pubkey("reference", r) for r in fields.get("reference", [])],
                       memo=_one(fields, "memo") or None)


def base_units(amount: str, decimals: int) -> int:
    """"0.2" SOL (9 decimals) -> 200000000; more decimals than the asset has is an error."""
    if not _AMOUNT.fullmatch(amount):
        raise PayUrlError(f"amount {amount!r} is not a plain decimal number")
    whole, _, fraction = amount.partition(".")
    if len(fraction) > decimals:
        raise PayUrlError(f"amount {amount} has more than {decimals} decimals")
    return int(whole) * 10**decimals + int(fraction.ljust(decimals, "0") or "0")


def _one(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name, [])
    if len(values) > 1:
        raise PayUrlError(f"{name} appears more than once")
    return values[0] if values else None


def _pubkey(what: str, text: str) -> Pubkey:
    try:
        return Pubkey.from_string(text)
    except ValueError:
        raise PayUrlError(f"{what} {text!r} is not a public key") from None
