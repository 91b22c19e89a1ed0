"""The books' exports, rendered: each kind's columns (the README's table is this list), a row
as text, and the CSV or JSON bytes the API streams and `paywatch export` writes.

Money is never a float: base units are integers, coin amounts are exact decimal strings,
fiat is the stored NUMERIC shown at the currency's minor units (every digit when more are
there). Times are RFC 3339 UTC. A missing value is empty in CSV and null in JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from paywatch.core.chains import ChainRegistry
from paywatch.core.money import decimal_str, fiat_shown, format_units
from paywatch.core.objects import rfc3339

Row = Mapping[str, Any]
# chain, transaction id -> the block explorer's page for it (ChainAdapter.explorer_tx_url)
Explorer = Callable[[str, str], str | None]

KINDS = ("payments", "transfers", "refunds")
FORMATS = ("csv", "json")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
# A period longer than this is refused (the API's 422, the CLI's usage error): an export reads
# in constant memory, but one spanning decades is a mistake more often than a wish.
MAX_PERIOD = timedelta(days=5 * 366)
# Bytes buffered before a chunk goes out: large enough for few writes, small next to memory.
CHUNK_BYTES = 64 * 1024
# A spreadsheet runs a cell starting with one of these as a formula: text a customer or
# merchant typed (a refund's reason, an order number) is prefixed with ' to stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def explorer_of(chains: ChainRegistry) -> Explorer:
    """Links from the configured chains' adapters (none for a chain no longer configured)."""
    def link(chain: str, tx: str) -> str | None:
        adapter = chains.get(chain)
        return adapter.explorer_tx_url(tx) if adapter is not None else None

    return link


class PeriodError(ValueError):
    """A period that cannot be exported; the message says why."""


def check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise PeriodError("from and to need a time zone, e.g. 2026-11-01T00:00:00Z")
    if not start < end:
        raise PeriodError("from must be before to")
    if end - start > MAX_PERIOD:
        raise PeriodError("the period is at most five years; export it in parts")


def filename(kind: str, start: datetime, end: datetime, fmt: str) -> str:
    """e.g. paywatch-payments-20261101T000000Z-20261201T000000Z.csv (UTC)."""
    def stamp(value: datetime) -> str:
        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    return f"paywatch-{kind}-{stamp(start)}-{stamp(end)}.{fmt}"


# ----- values -----------------------------------------------------------------------------------

def _time(value: datetime | None) -> str | None:
    return rfc3339(value)


def _units(value: Any) -> str | None:
    return None if value is None else str(int(value))


def _coins(value: Any, decimals: int | None) -> str | None:
    if value is None or decimals is None:
        return None
    return format_units(int(value), decimals)


def _fiat(value: Decimal | None, currency: str | None) -> str | None:
    if value is None or currency is None:
        return None
    return decimal_str(fiat_shown(value, currency))


def _number(value: Decimal | None) -> str | None:
    return None if value is None else decimal_str(value.normalize())


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _currency(row: Row) -> str | None:
    return row["currency"].strip() if row["currency"] else None


def _tx_ids(row: Row) -> list[str]:
    """A payment's or refund's transactions (a transfer row has its one `tx_id` instead)."""
    return list(dict.fromkeys(row["tx_ids"] or ()))


@dataclass(frozen=True)
class Column:
    name: str
    doc: str
    value: Callable[[Row, Explorer], str | None]
    typed: bool = False  # free text someone typed: guarded against spreadsheet formulas


def _col(name: str, doc: str, value: Callable[[Row], str | None],
         typed: bool = False) -> Column:
    return Column(name, doc, lambda row, _explorer: value(row), typed)


def _explorer_col(doc: str, one: bool = False) -> Column:
    def links(row: Row, explorer: Explorer) -> str | None:
        txs = [row["tx_id"]] if one else _tx_ids(row)
        urls = [explorer(row["chain"], tx) for tx in txs]
        return " ".join(u for u in urls if u) or None

    return Column("explorer_url", doc, links)


def _common_head(what: str) -> list[Column]:
    return [
        _col("booked_at", f"when the {what} counts in the books: confirmed, else "
             "created (RFC 3339 UTC); the period filters on this",
             lambda r: _time(r["booked_at"])),
    ]


PAYMENT_COLUMNS = [
    *_common_head("payment"),
    _col("created_at", "when the payment was created", lambda r: _time(r["created_at"])),
    _col("confirmed_at", "when it was confirmed (empty if it was not)",
         lambda r: _time(r["confirmed_at"])),
    _col("payment_id", "the payment's id", lambda r: str(r["id"])),
    _col("order_number", "the order it pays, if any", lambda r: _text(r["order_number"]),
         typed=True),
    _col("chain", "the chain (solana, base...)", lambda r: r["chain"]),
    _col("asset", "the asset's symbol (SOL, USDC, ETH...)", lambda r: r["asset"]),
    _col("asset_contract", "the SPL mint or ERC-20 contract (empty for the native coin)",
         lambda r: r["mint"]),
    _col("amount_due", "what the customer was asked, in coins",
         lambda r: _coins(r["amount_due"], r["decimals"])),
    _col("amount_due_base_units", "the same in base units (lamports, wei...)",
         lambda r: _units(r["amount_due"])),
    _col("amount_received", "what arrived on the chain, in coins",
         lambda r: _coins(r["amount_received"], r["decimals"])),
    _col("amount_received_base_units", "the same in base units",
         lambda r: _units(r["amount_received"])),
    _col("currency", "the fiat currency of every fiat column (ISO 4217)", _currency),
    _col("fiat_amount", "the price the merchant asked, before any CFV discount",
         lambda r: _fiat(r["fiat_amount"], _currency(r))),
    _col("cfv_discount_percent", "the CFV discount of the quote, in percent",
         lambda r: _number(r["discount_percent"])),
    _col("fiat_due", "what the customer was asked after the discount: the revenue of a "
         "confirmed payment (the analytics summary sums this)",
         lambda r: _fiat(r["fiat_amount_due"], _currency(r))),
    _col("quote_price", "the market price the quote used, per coin",
         lambda r: _number(r["price"])),
    _col("fiat_received_at_quote", "what arrived, valued at the quote's price",
         lambda r: _fiat(r["fiat_at_quote"], _currency(r))),
    _col("fiat_received_at_confirmation", "what arrived, valued at the market price when each "
         "transfer was confirmed (empty until every one is valued)",
         lambda r: _fiat(r["fiat_at_confirmation"], _currency(r))),
    _col("status", "pending, detected, confirmed, expired, invalid or cancelled",
         lambda r: r["status"]),
    _col("exception", "underpaid, overpaid, paid_late, multiple or marked (settled by hand)",
         lambda r: r["exception"]),
    _col("amount_refunded", "what was given back (confirmed refunds), in coins",
         lambda r: _coins(r["amount_refunded"], r["decimals"])),
    _col("amount_refunded_base_units", "the same in base units",
         lambda r: _units(r["amount_refunded"])),
    _col("fiat_refunded", "the confirmed refunds' fiat value, at the rate each was made at",
         lambda r: _fiat(r["fiat_refunded"], _currency(r))),
    _col("tx_ids", "the transactions that paid it (space-separated)",
         lambda r: " ".join(_tx_ids(r)) or None),
    _explorer_col("their pages on the chain's block explorer (space-separated)"),
]

TRANSFER_COLUMNS = [
    *_common_head("transfer"),
    _col("seen_at", "when the watcher saw it", lambda r: _time(r["seen_at"])),
    _col("confirmed_at", "when it was confirmed on the chain",
         lambda r: _time(r["confirmed_at"])),
    _col("reverted_at", "when a reorg or dead fork reverted it",
         lambda r: _time(r["reverted_at"])),
    _col("transfer_id", "the transfer's id", lambda r: str(r["id"])),
    _col("direction", "in: paid to the store; out: a refund the merchant's wallet sent",
         lambda r: r["direction"]),
    _col("payment_id", "the payment it pays (empty: in the inbox, or a refund)",
         lambda r: _text(r["payment_id"])),
    _col("refund_id", "the refund it sends (out)", lambda r: _text(r["refund_id"])),
    _col("order_number", "the order of its payment or refund", lambda r: _text(r["order_number"]),
         typed=True),
    _col("chain", "the chain", lambda r: r["chain"]),
    _col("asset", "the asset's symbol", lambda r: r["asset"]),
    _col("asset_contract", "the SPL mint or ERC-20 contract", lambda r: r["mint"]),
    _col("amount", "the amount moved, in coins", lambda r: _coins(r["amount"], r["decimals"])),
    _col("amount_base_units", "the same in base units", lambda r: _units(r["amount"])),
    _col("currency", "the fiat currency of its values: its payment's, its refund's, else the "
         "store's default", _currency),
    _col("quote_price", "its payment's quoted price per coin", lambda r: _number(r["quote_price"])),
    _col("fiat_at_quote", "its value at that price", lambda r: _fiat(r["fiat_at_quote"],
                                                                     _currency(r))),
    _col("market_price", "the market price per coin when it was confirmed",
         lambda r: _number(r["market_price"])),
    _col("market_price_source", "where that price came from (median of the sources)",
         lambda r: r["market_price_source"]),
    _col("market_price_at", "how fresh that price was", lambda r: _time(r["market_price_at"])),
    _col("fiat_at_confirmation", "its value at the market price when it was confirmed",
         lambda r: _fiat(r["fiat_at_confirmation"], _currency(r))),
    _col("cfv_discount_percent", "its payment's CFV discount, in percent",
         lambda r: _number(r["discount_percent"])),
    _col("status", "processed, confirmed, finalized, reverted or rejected",
         lambda r: r["status"]),
    _col("exception", "why it paid nothing: the reject reason (rejected) or why it is in the "
         "inbox", lambda r: r["reject_reason"] or r["unmatched_reason"]),
    _col("matched_by", "how it matched its payment", lambda r: r["matched_by"]),
    _col("resolution", "what the merchant did with an inbox entry (assigned, dismissed)",
         lambda r: r["resolution"]),
    _col("sender", "the account it came from", lambda r: r["sender"]),
    _col("recipient", "the account it went to", lambda r: r["recipient"]),
    _col("tx_id", "the transaction", lambda r: r["tx_id"]),
    _col("tx_index", "its position in the transaction", lambda r: str(r["index"])),
    _explorer_col("the transaction's page on the chain's block explorer", one=True),
]

REFUND_COLUMNS = [
    *_common_head("refund"),
    _col("created_at", "when the refund was created", lambda r: _time(r["created_at"])),
    _col("confirmed_at", "when the merchant's transfer was confirmed",
         lambda r: _time(r["confirmed_at"])),
    _col("refund_id", "the refund's id", lambda r: str(r["id"])),
    _col("payment_id", "the payment it refunds", lambda r: str(r["payment_id"])),
    _col("order_number", "that payment's order", lambda r: _text(r["order_number"]),
         typed=True),
    _col("chain", "the chain", lambda r: r["chain"]),
    _col("asset", "the asset's symbol", lambda r: r["asset"]),
    _col("asset_contract", "the SPL mint or ERC-20 contract", lambda r: r["mint"]),
    _col("amount", "the amount given back, in coins", lambda r: _coins(r["amount"],
                                                                      r["decimals"])),
    _col("amount_base_units", "the same in base units", lambda r: _units(r["amount"])),
    _col("currency", "the fiat currency (the payment's)", _currency),
    _col("fiat_amount", "its fiat value at the rate below (the analytics refunds line sums "
         "this)", lambda r: _fiat(r["fiat_amount"], _currency(r))),
    _col("rate", "quote: the payment's quoted price; market: the price when it was made",
         lambda r: r["rate"]),
    _col("price", "that price per coin", lambda r: _number(r["price"])),
    _col("fiat_at_confirmation", "its value at the market price when the transfer was "
         "confirmed", lambda r: _fiat(r["fiat_at_confirmation"], _currency(r))),
    _col("cfv_discount_percent", "the refunded payment's CFV discount, in percent",
         lambda r: _number(r["discount_percent"])),
    _col("status", "pending, confirmed, expired or cancelled", lambda r: r["status"]),
    _col("destination", "the customer's account it was sent to", lambda r: r["destination"]),
    _col("reason", "why, as the merchant wrote it", lambda r: r["reason"], typed=True),
    _col("tx_ids", "the merchant's transaction(s) that sent it",
         lambda r: " ".join(_tx_ids(r)) or None),
    _explorer_col("their pages on the chain's block explorer"),
]

COLUMNS: dict[str, list[Column]] = {
    "payments": PAYMENT_COLUMNS, "transfers": TRANSFER_COLUMNS, "refunds": REFUND_COLUMNS,
}


def render(kind: str, row: Row, explorer: Explorer) -> list[str | None]:
    return [column.value(row, explorer) for column in COLUMNS[kind]]


def _cell(value: str | None, typed: bool) -> str:
    if value is None:
        return ""
    if typed and value.startswith(_FORMULA_START):
        return "'" + value
    return value


# ----- encodings ----------------------------------------------------------------------------------

class _Encoder:
    def __init__(self, kind: str) -> None:
        self.columns = COLUMNS[kind]
        self.names = [c.name for c in self.columns]

    def head(self) -> str:
        raise NotImplementedError

    def row(self, values: Sequence[str | None], first: bool) -> str:
        raise NotImplementedError

    def tail(self, empty: bool) -> str:
        raise NotImplementedError


class _Csv(_Encoder):
    """RFC 4180: a header line, CRLF line ends, quoted where needed."""

    def _line(self, cells: Sequence[str]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerow(cells)
        return out.getvalue()

    def head(self) -> str:
        return self._line(self.names)

    def row(self, values: Sequence[str | None], first: bool) -> str:
        return self._line([_cell(v, c.typed) for v, c in zip(values, self.columns, strict=True)])

    def tail(self, empty: bool) -> str:
        return ""


class _Json(_Encoder):
    """One JSON array of objects, written as it goes (any JSON tool loads it whole)."""

    def head(self) -> str:
        return "["

    def row(self, values: Sequence[str | None], first: bool) -> str:
        obj = json.dumps(dict(zip(self.names, values, strict=True)), ensure_ascii=True)
        return ("\n" if first else ",\n") + obj

    def tail(self, empty: bool) -> str:
        return "]\n" if empty else "\n]\n"


def _encoder(kind: str, fmt: str) -> _Encoder:
    return _Csv(kind) if fmt == "csv" else _Json(kind)


async def encode(kind: str, fmt: str, rows: AsyncIterable[Row], explorer: Explorer,
                 on_row: Callable[[], None] | None = None) -> AsyncGenerator[bytes, None]:
    """The export's bytes, in chunks of about CHUNK_BYTES as the rows arrive."""
    encoder = _encoder(kind, fmt)
    parts, size, first = [encoder.head()], 0, True
    async for row in rows:
        part = encoder.row(render(kind, row, explorer), first)
        parts.append(part)
        size += len(part)
        first = False
        if on_row is not None:
            on_row()
        if size >= CHUNK_BYTES:
            yield "".join(parts).encode("utf-8")
            parts, size = [], 0
    parts.append(encoder.tail(first))
    yield "".join(parts).encode("utf-8")
