"""Solana Pay transfer request URLs, built and parsed to the spec:

    solana:<recipient>?amount=<amount>&spl-token=<mint>&reference=<ref>...&label=&message=&memo=

- amount is in whole units ("1.5" SOL), a plain decimal with a leading zero below 1, no exponent,
  no trailing zeros, and never more decimals than the token has;
- reference may repeat; order is kept (wallets add them to the transfer in that order);
- label, message and memo are UTF-8, percent-encoded (a space is %20);
- the whole URL stays within 2048 characters, the limit wallets and QR scanners are built for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote

from paywatch.money import format_units
from paywatch.validation import solana_address

SCHEME = "solana:"
MAX_URL_LENGTH = 2048
_AMOUNT = re.compile(r"(0|[1-9]\d*)(\.\d+)?")
_PARAMS = ("amount", "spl-token", "reference", "label", "message", "memo")


class SolanaPayError(ValueError):
    """The URL is not a valid Solana Pay transfer request."""


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


def _enc(value: str) -> str:
    return quote(value, safe="")


def build_transfer_url(*, recipient: str, amount_base_units: int | None, decimals: int,
                       spl_token: str | None, references: list[str], label: str | None = None,
                       message: str | None = None, memo: str | None = None) -> str:
    params: list[tuple[str, str]] = []
    if amount_base_units is not None:
        params.append(("amount", format_units(amount_base_units, decimals)))
    if spl_token:
        params.append(("spl-token", solana_address(spl_token)))
    params += [("reference", solana_address(r)) for r in references]
    texts = {"label": label, "message": message, "memo": memo}
    params += [(k, v) for k, v in texts.items() if v]
    url = SCHEME + solana_address(recipient)
    if params:
        url += "?" + "&".join(f"{k}={_enc(v)}" for k, v in params)
    if len(url) > MAX_URL_LENGTH:
        longest = max((k for k, v in texts.items() if v), default=None,
                      key=lambda k: len(_enc(texts[k] or "")))
        raise UrlTooLong(len(url), longest)
    return url


def parse_transfer_url(url: str) -> TransferRequest:
    if len(url) > MAX_URL_LENGTH:
        raise UrlTooLong(len(url), None)
    if not url.startswith(SCHEME):
        raise SolanaPayError("a transfer request starts with 'solana:'")
    path, _, query = url[len(SCHEME):].partition("?")
    try:
        recipient = solana_address(path)
    except ValueError as exc:
        raise SolanaPayError(f"recipient: {exc}") from None
    values: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in _PARAMS:
            continue  # unknown parameters are ignored, as wallets do
        values.setdefault(key, []).append(value)
    for key, found in values.items():
        if key != "reference" and len(found) > 1:
            raise SolanaPayError(f"{key} appears more than once")
    return TransferRequest(
        recipient=recipient,
        amount=_amount(values.get("amount", [None])[0]),
        spl_token=_key("spl-token", values.get("spl-token", [None])[0]),
        references=[_key("reference", r) or "" for r in values.get("reference", [])],
        label=values.get("label", [None])[0], message=values.get("message", [None])[0],
        memo=values.get("memo", [None])[0],
    )


def _amount(text: str | None) -> str | None:
    if text is None:
        return None
    if not _AMOUNT.fullmatch(text):
        raise SolanaPayError(f"amount {text!r} is not a plain non-negative decimal")
    return text


def _key(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return solana_address(value)
    except ValueError as exc:
        raise SolanaPayError(f"{name}: {exc}") from None
