"""What the checkout page says about a payment, as data: one pure function from the payment's
row (db/checkout.py) and the time to a CheckoutView. The HTML page and the event stream both
render this, so the page a customer loads and the live updates can never disagree."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from paywatch.core.chains import ChainRegistry
from paywatch.core.money import format_units
from paywatch.core.states import OPEN_PAYMENT

# Final for the page: nothing the chain does can change what the customer should do next.
FINAL_STATUSES = ("confirmed", "cancelled", "invalid")
# A redirect target goes into a <meta refresh>, an <a href> and JS location.assign: http(s)
# only, and none of the characters that could end an attribute or a refresh URL early.
_UNSAFE_URL_CHARS = re.compile(r"[\s\"'<>\\`\x00-\x1f\x7f]")


@dataclass(frozen=True)
class CheckoutView:
    state: str          # waiting | detected | underpaid | confirmed | expired | paid_late |
    #                     cancelled | invalid: picks the page's wording and colour
    headline: str       # one short sentence
    detail: str         # what happened and what the customer should do, plainly
    payable: bool       # show the payment request (QR, wallet button, copy buttons)
    open: bool          # the payment can still move on its own: keep refreshing/streaming
    final: bool         # nothing more will happen: the event stream ends
    seconds_left: int   # until the quote expires (0 once expired); not part of the identity
    pay_amount: str     # what to send now, in the asset ("" when not payable)
    pay_url: str | None  # the wallet request for pay_amount (None: copy address + amount)
    received: str       # received so far at the required commitment, in the asset
    redirect_url: str | None  # where to send the customer once confirmed (validated)

    def identity(self) -> tuple[Any, ...]:
        """What a customer would notice changing (the countdown ticks on its own)."""
        return (self.state, self.headline, self.detail, self.payable, self.open, self.final,
                self.pay_amount, self.received, self.redirect_url)

    def event_data(self) -> dict[str, Any]:
        """The event stream's payload: what the page needs to update itself, nothing more."""
        data = asdict(self)
        del data["pay_url"]  # the page already has it; a change of it means reload
        return data


def safe_redirect(url: str | None) -> str | None:
    """The merchant's redirect_url if it is an absolute http(s) URL safe to put in HTML."""
    if not url or len(url) > 2048 or _UNSAFE_URL_CHARS.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def remainder_url(row: Mapping[str, Any], remaining: int, chains: ChainRegistry) -> str | None:
    """The payment's chain's request for what is still missing; None (the page shows the
    address and amount to copy) when the chain has none or is no longer configured."""
    chain = chains.get(row["chain"])
    if chain is None:
        return None
    return chain.remainder_request(row["payment_url"], remaining, row["decimals"])


def checkout_view(row: Mapping[str, Any], now: datetime, chains: ChainRegistry) -> CheckoutView:
    view = _view(row, now, chains)
    refunded = row.get("amount_refunded") or 0
    if refunded:  # a line, whatever the state: the customer sees the money came back
        whole = "in full" if refunded >= row["amount_received"] else "in part"
        view = replace(view, detail=f"{view.detail} Refunded {whole}: {row['store_name']} "
                       f"sent back {format_units(int(refunded), row['decimals'])} "
                       f"{row['asset']}.")
    return view


def _view(row: Mapping[str, Any], now: datetime, chains: ChainRegistry) -> CheckoutView:
    status, exception = row["status"], row["exception"]
    seconds_left = max(0, int((row["expires_at"] - now).total_seconds()))
    received = format_units(row["amount_received"], row["decimals"])
    store = row["store_name"]
    base: dict[str, Any] = {"seconds_left": seconds_left, "received": received, "pay_amount": "",
            "pay_url": None, "redirect_url": None, "payable": False,
            "open": status in OPEN_PAYMENT,
            "final": status in FINAL_STATUSES or (status == "expired"
                                                  and now >= row["monitor_until"])}
    if status == "pending" and seconds_left > 0:
        return CheckoutView(
            state="waiting", headline="Waiting for your payment",
            detail="Scan the code or open your wallet, then approve the payment. "
                   "This page updates by itself.",
            **{**base, "payable": True, "pay_url": row["payment_url"],
               "pay_amount": format_units(row["amount_due"], row["decimals"])})
    if status == "pending":  # past expiry; the sweep has not closed it yet
        return _expired(row, store, base)
    if status == "detected" and exception == "underpaid":
        return _underpaid(row, store, seconds_left, base, chains)
    if status == "detected":
        return CheckoutView(
            state="detected", headline="Payment detected",
            detail="Your payment is on its way and waiting for network confirmation. "
                   "Keep this page open; there is no need to pay again.", **base)
    if status == "confirmed":
        return _confirmed(row, store, base)
    if status == "expired" and exception == "paid_late":
        return CheckoutView(
            state="paid_late", headline="Your payment arrived after the time ran out",
            detail=f"It was recorded, but the order was not confirmed automatically. "
                   f"Do not pay again: contact {store} with a link to this page; they can "
                   f"accept the payment or refund it.", **base)
    if status == "expired":
        return _expired(row, store, base)
    if status == "cancelled":
        return CheckoutView(
            state="cancelled", headline="This payment was cancelled",
            detail=f"{store} cancelled this payment request. Do not send money to it; go "
                   f"back to {store} if you still want to order.", **base)
    return CheckoutView(  # invalid: seen on the chain, but it never confirmed in time
        state="invalid", headline="Your payment did not go through",
        detail=f"A transfer was seen but never confirmed on the network. Check your wallet: "
               f"if the money left it, contact {store} with a link to this page.", **base)


def _underpaid(row: Mapping[str, Any], store: str, seconds_left: int,
               base: dict[str, Any], chains: ChainRegistry) -> CheckoutView:
    missing = max(0, row["amount_due"] - row["amount_received"])
    asset, decimals = row["asset"], row["decimals"]
    missing_text = format_units(missing, decimals)
    if seconds_left > 0 and missing > 0:
        return CheckoutView(
            state="underpaid", headline="Part of the amount arrived",
            detail=f"We received {format_units(row['amount_received'], decimals)} of "
                   f"{format_units(row['amount_due'], decimals)} {asset}. Please send the "
                   f"remaining {missing_text} {asset} before the time runs out.",
            **{**base, "payable": True, "pay_amount": missing_text,
               "pay_url": remainder_url(row, missing, chains)})
    return CheckoutView(
        state="underpaid", headline="Part of the amount arrived",
        detail=f"We received less than the {format_units(row['amount_due'], decimals)} "
               f"{asset} due and are waiting for it to confirm. If you sent the full amount, "
               f"keep this page open; otherwise contact {store}.", **base)


def _confirmed(row: Mapping[str, Any], store: str, base: dict[str, Any]) -> CheckoutView:
    redirect = safe_redirect(row["redirect_url"])
    detail = f"Thank you! {store} has received your payment."
    if row["exception"] == "overpaid":
        detail += f" You sent more than was due; contact {store} about the difference."
    if redirect:
        detail += f" Taking you back to {urlsplit(redirect).hostname}…"
    return CheckoutView(state="confirmed", headline="Payment confirmed", detail=detail,
                        **{**base, "redirect_url": redirect})


def _expired(row: Mapping[str, Any], store: str, base: dict[str, Any]) -> CheckoutView:
    if row["exception"] == "underpaid" or row["amount_received"] > 0:
        detail = (f"Time ran out before the full amount arrived (we received "
                  f"{format_units(row['amount_received'], row['decimals'])} {row['asset']}). "
                  f"Do not send more to this request: contact {store}; they can refund you "
                  f"or settle the order.")
    else:
        detail = (f"Time ran out before any payment arrived. Do not send money to this "
                  f"request: go back to {store} and start the payment again for a new price.")
    return CheckoutView(state="expired", headline="This payment request has expired",
                        detail=detail, **base)
