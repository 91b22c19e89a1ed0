"""Database rows -> the JSON objects the API answers with and events carry under `data.object`.

One builder per object, so a payment looks the same in GET /v1/payments/{id}, in a webhook
sent by the watcher, the sweep or an API call (the API's response models validate this shape)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from paywatch.core import txrequest
from paywatch.core.money import decimal_str, fiat_shown, format_units

Row = Mapping[str, Any]


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def public_link(public_url: str | None, path: str) -> str:
    """A customer-facing link: absolute under PAYWATCH_PUBLIC_URL (already normalized to no
    trailing slash) when it is set, a path on this server when not."""
    return f"{public_url}{path}" if public_url else path


def payment_request(row: Row, public_url: str | None) -> dict[str, Any]:
    """The request as its chain's adapter planned it when the payment was made (the format and
    chain id are stored with it, so no reader guesses them)."""
    return {
        "type": row["request_type"], "url": row["payment_url"],
        "reference": row["reference"], "recipient": row["recipient"],
        "amount": str(row["amount_due"]), "asset_contract": row["mint"],
        "chain_id": row["request_chain_id"],
        "qr_code_url": public_link(public_url, f"/v1/payments/{row['id']}/qr.svg"),
        # Solana Pay's Transaction Request for the same payment, when the wallet can reach us.
        "transaction_request_url": (txrequest.request_url(public_url, row["id"])
                                    if row["request_type"] == "solana_pay" else None),
    }


def transfer_object(t: Row) -> dict[str, Any]:
    """A transfer as JSON: embedded in its payment, and on its own in the store's inbox
    (GET /v1/transfers/...) and in transfer.* events. How it matched (`matched_by`, and
    `via_program` when the value moved inside a program), or why it paid nothing
    (`unmatched_reason`) and what the merchant did about it (`resolution`...)."""
    return {
        "object": "transfer", "id": str(t["id"]),
        "payment_id": str(t["payment_id"]) if t["payment_id"] else None,
        "chain": t["chain"], "tx_id": t["tx_id"], "index": t["index"], "asset": t["asset"],
        "mint": t["mint"], "sender": t["sender"], "recipient": t["recipient"],
        "amount": str(t["amount"]), "memo": t["memo"], "slot": t["slot"],
        "block_time": rfc3339(t["block_time"]), "status": t["status"],
        "reject_reason": t["reject_reason"], "matched_by": t["matched_by"],
        "via_program": t["via_program"], "unmatched_reason": t["unmatched_reason"],
        "resolution": t["resolution"], "resolved_at": rfc3339(t["resolved_at"]),
        "resolved_by": t["resolved_by"], "resolution_note": t["resolution_note"],
        "seen_at": rfc3339(t["seen_at"]),
        "confirmed_at": rfc3339(t["confirmed_at"]), "reverted_at": rfc3339(t["reverted_at"]),
        **transfer_books(t),
    }


def transfer_books(t: Row) -> dict[str, Any]:
    """The books' part of a transfer: in (paid to us) or out (a refund the merchant sent), its
    value in `currency` at the payment's quoted price and at the market price when it was
    confirmed (null until the valuation job priced it), as decimal strings."""
    currency = t["currency"].strip() if t["currency"] else None

    def fiat(value: Decimal | None) -> str | None:
        if value is None or currency is None:
            return None
        return decimal_str(fiat_shown(value, currency))

    return {
        "direction": t["direction"],
        "refund_id": str(t["refund_id"]) if t["refund_id"] else None,
        "currency": currency, "fiat_at_quote": fiat(t["fiat_at_quote"]),
        "fiat_at_confirmation": fiat(t["fiat_at_confirmation"]),
        "market_price": (decimal_str(t["market_price"].normalize())
                         if t["market_price"] is not None else None),
    }


def payment_object(row: Row, transfers: Sequence[Row], public_url: str | None) -> dict[str, Any]:
    """The payment as JSON (base units and fiat as decimal strings, times in RFC 3339 UTC)."""
    currency = row["currency"].strip()
    return {
        "object": "payment", "id": str(row["id"]), "status": row["status"],
        "exception": row["exception"],
        "order_id": str(row["order_id"]) if row["order_id"] else None,
        "chain": row["chain"], "asset": row["asset"], "mint": row["mint"],
        "decimals": row["decimals"],
        "amount_due": str(row["amount_due"]),
        "amount_due_display": format_units(row["amount_due"], row["decimals"]),
        "amount_received": str(row["amount_received"]),
        "amount_received_display": format_units(row["amount_received"], row["decimals"]),
        "amount_refunded": str(row["amount_refunded"]),
        "currency": currency,
        "fiat_amount": format(fiat_shown(row["fiat_amount"], currency), "f"),
        "fiat_amount_due": format(fiat_shown(row["fiat_amount_due"], currency), "f"),
        "required_commitment": row["required_commitment"],
        "checkout_url": public_link(public_url, f"/pay/{row['id']}"),
        "payment_request": payment_request(row, public_url),
        "quote": row["quote"],
        "transfers": [transfer_object(t) for t in transfers],
        "label": row["label"], "message": row["message"], "memo": row["memo"],
        "redirect_url": row["redirect_url"], "metadata": row["metadata"],
        **{name: rfc3339(row[name]) for name in (
            "expires_at", "monitor_until", "confirm_deadline_at", "created_at", "updated_at",
            "detected_at", "confirmed_at", "closed_at")},
    }


def refund_object(row: Row, transfers: Sequence[Row], public_url: str | None) -> dict[str, Any]:
    """A refund as JSON (GET /v1/refunds/{id}, refund.* events): what goes back, at which
    rate, where to (and why there), and the request the merchant's own wallet signs."""
    currency = row["currency"].strip()
    return {
        "object": "refund", "id": str(row["id"]), "status": row["status"],
        "payment_id": str(row["payment_id"]),
        "order_id": str(row["order_id"]) if row["order_id"] else None,
        "chain": row["chain"], "asset": row["asset"], "mint": row["mint"],
        "decimals": row["decimals"], "amount": str(row["amount"]),
        "amount_display": format_units(row["amount"], row["decimals"]),
        "currency": currency,
        "fiat_amount": format(fiat_shown(row["fiat_amount"], currency), "f"),
        "rate": row["rate"], "price": format(row["price"].normalize(), "f"),
        "price_source": row["price_source"],
        "source": row["source"], "destination": row["destination"],
        "destination_from": row["destination_from"], "reason": row["reason"],
        "refund_request": {
            "type": row["request_type"], "url": row["payment_url"],
            "reference": row["reference"], "chain_id": row["request_chain_id"],
            "qr_code_url": public_link(public_url, f"/v1/refunds/{row['id']}/qr.svg"),
        },
        "transfers": [transfer_object(t) for t in transfers],
        "created_by": row["created_by"],
        **{name: rfc3339(row[name]) for name in (
            "expires_at", "created_at", "updated_at", "confirmed_at", "closed_at")},
    }


def _order_customer(row: Row) -> dict[str, Any] | None:
    if row["customer_id"] is None:
        return None
    return {"email": row["customer_email"], "name": row["customer_name"],
            "wallet": row["customer_wallet"]}


def order_object(row: Row, items: Sequence[Row], history: Sequence[Row]) -> dict[str, Any]:
    """The order as JSON: what GET /v1/orders/{id} answers and every order.* event carries
    under `data.object` (fiat as decimal strings in the currency's minor units)."""
    currency = row["currency"].strip()

    def fiat(value: Any) -> str:
        return format(fiat_shown(value, currency), "f")

    address = row["shipping_address"]
    return {
        "object": "order", "id": str(row["id"]), "number": row["number"],
        "status": row["status"], "currency": currency, "customer": _order_customer(row),
        "items": [{"sku": i["sku"], "name": i["name"], "quantity": i["quantity"],
                   "unit_price": fiat(i["unit_price"]), "total": fiat(i["total"])}
                  for i in items],
        "subtotal": fiat(row["subtotal"]), "shipping": fiat(row["shipping"]),
        "tax": fiat(row["tax"]), "total": fiat(row["total"]),
        "shipping_address": dict(address) if address is not None else None,
        "carrier": row["carrier"], "tracking_number": row["tracking_number"],
        "metadata": row["metadata"],
        "status_history": [{"from_status": h["from_status"], "to_status": h["to_status"],
                            "reason": h["reason"], "actor": h["actor"],
                            "at": rfc3339(h["created_at"])} for h in history],
        **{name: rfc3339(row[name]) for name in (
            "created_at", "updated_at", "paid_at", "cancelled_at")},
    }


def _seconds(value: timedelta) -> int:
    return int(value.total_seconds())


def store_object(row: Row, assets: Sequence[Row], evm_chains: Sequence[Row]) -> dict[str, Any]:
    """The store as JSON: what GET /v1/stores/{ref} answers and its audit rows record (only
    enabled assets; per EVM chain, how payments are matched)."""
    def money(value: Decimal | None) -> str | None:
        return None if value is None else format(value, "f")

    return {
        "object": "store", "id": str(row["id"]), "slug": row["slug"], "name": row["name"],
        "default_currency": row["default_currency"].strip(),
        "solana_recipient": row["solana_recipient"], "commitment": row["commitment"],
        "finalized_above": money(row["finalized_above"]),
        "underpaid_tolerance_percent": money(row["underpaid_tolerance_percent"]),
        "underpaid_tolerance_amount": money(row["underpaid_tolerance_amount"]),
        "payment_lifetime_seconds": _seconds(row["payment_lifetime"]),
        "monitoring_window_seconds": _seconds(row["monitoring_window"]),
        "confirmation_window_seconds": _seconds(row["confirmation_window"]),
        "accept_late_payments": row["accept_late_payments"], "cfv_policy": row["cfv_policy"],
        "allow_framing": row["allow_framing"],
        "solana_unique_amount": row["solana_unique_amount"],
        "assets": [{"chain": a["chain"], "asset": a["asset"], "mint": a["mint"],
                    "decimals": a["decimals"]} for a in assets if a["enabled"]],
        "evm": {c["chain"]: {"mode": c["mode"], "xpub": c["xpub"], "address": c["address"],
                             "next_index": c["next_index"]} for c in evm_chains},
        "created_at": rfc3339(row["created_at"]), "updated_at": rfc3339(row["updated_at"]),
    }
