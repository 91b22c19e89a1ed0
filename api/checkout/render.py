"""The checkout page as HTML. Every value goes through html.escape unless it is an `Html`
fragment built here from escaped parts: a store name or label can hold anything."""

from __future__ import annotations

import hashlib
import html
import string
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from api.checkout.view import CheckoutView
from paywatch.core.chains import ChainRegistry
from paywatch.core.money import format_units, is_currency, quantize_fiat

# Seconds between reloads for a browser without JavaScript while the payment is open.
NO_JS_REFRESH_S = 10
# How long the confirmed page shows before it takes the customer back to the merchant.
REDIRECT_DELAY_S = 4


class Html(str):
    """Markup that is already safe: only `fmt` and the templates make these."""

    __slots__ = ()


def esc(value: object) -> Html:
    return value if isinstance(value, Html) else Html(html.escape(str(value), quote=True))


def fmt(template: str, *args: object, **kwargs: object) -> Html:
    """str.format with every argument escaped (the template itself is trusted markup)."""
    return Html(template.format(*(esc(a) for a in args),
                                **{k: esc(v) for k, v in kwargs.items()}))


@dataclass(frozen=True)
class Asset:
    """A static file, read once from the package (so an installed wheel serves it too)."""

    name: str
    body: bytes
    content_type: str

    @property
    def url(self) -> str:
        # The content hash in the URL lets browsers cache it for long and never go stale.
        return f"/checkout/static/{self.name}?v={hashlib.sha256(self.body).hexdigest()[:12]}"


_STATIC_TYPES = {"checkout.css": "text/css", "checkout.js": "text/javascript",
                 # the icon Solana Pay wallets show for a Transaction Request (api/txrequest.py)
                 "icon.svg": "image/svg+xml"}


@cache
def static_assets() -> dict[str, Asset]:
    folder = resources.files("api.checkout") / "static"
    return {name: Asset(name, (folder / name).read_bytes(), kind)
            for name, kind in _STATIC_TYPES.items()}


@cache
def _template(name: str) -> string.Template:
    return string.Template((resources.files("api.checkout") / "templates" / name)
                           .read_text(encoding="utf-8"))


def render_template(name: str, **values: object) -> str:
    return _template(name).substitute({k: esc(v) for k, v in values.items()})


def fiat(amount: Decimal, currency: str) -> str:
    code = currency.strip()
    shown = quantize_fiat(amount, code) if is_currency(code) else amount
    return f"{shown:,f} {code}"


def percent(value: Decimal) -> str:
    """Decimal("5.00") -> "5", Decimal("7.50") -> "7.5" (no exponent: normalize() gives 1E+1)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def discount_line(row: Mapping[str, Any]) -> Html:
    """The CFV discount in one sentence, or nothing when there is none."""
    discount = row["discount_percent"]
    if not discount or discount <= 0:
        return Html("")
    below = row["valuation_percent"]
    why = (f"{row['asset']} trades {percent(abs(below))} % below its estimated fair value"
           if below is not None and below < 0 else f"{row['asset']} trades below its fair value")
    return fmt('<p class="discount" id="discount">Includes a {} % crypto fair value discount '
               '(<s>{}</s>): {}, and this store passes the difference on to you.</p>',
               percent(discount), fiat(row["fiat_amount"], row["currency"]), why)


def page(row: Mapping[str, Any], view: CheckoutView, chains: ChainRegistry,
         tx_request_url: str | None = None) -> str:
    """`tx_request_url`: the payment's Solana Pay Transaction Request, offered beside the
    transfer request when the server has a public URL (api/txrequest.py)."""
    pid = str(row["id"])
    assets = static_assets()
    subtitle = row["message"] or (row["label"] if row["label"] != row["store_name"] else None)
    return render_template(
        "page.html",
        title=f"{view.headline} · {row['store_name']}",
        head_refresh=_head_refresh(view),
        css_url=assets["checkout.css"].url, js_url=assets["checkout.js"].url,
        payment_id=pid, state=view.state, events_url=f"/pay/{pid}/events",
        seconds_left=view.seconds_left, pay_amount=view.pay_amount,
        redirect_url=view.redirect_url or "", redirect_delay=REDIRECT_DELAY_S,
        store_name=row["store_name"],
        subtitle=fmt('<p class="subtitle">{}</p>', subtitle) if subtitle else Html(""),
        fiat_due=fiat(row["fiat_amount_due"], row["currency"]),
        crypto_due=f"{format_units(row['amount_due'], row['decimals'])} {row['asset']} on "
                   f"{chains.display_name(row['chain'])}",
        discount=discount_line(row),
        headline=view.headline, detail=view.detail,
        continue_link=(fmt('<p><a class="button secondary" href="{}">Continue to the store'
                           '</a></p>', view.redirect_url) if view.redirect_url else Html("")),
        countdown=_countdown(view),
        pay_section=_pay_section(row, view, chains, tx_request_url),
        no_js_note=_no_js_note(view),
    )


def _head_refresh(view: CheckoutView) -> Html:
    """<noscript> in <head>: only browsers without JavaScript act on these refreshes; with it,
    the event stream keeps the page current instead."""
    if view.redirect_url:
        return fmt('<noscript><meta http-equiv="refresh" content="{}"></noscript>',
                   f"{REDIRECT_DELAY_S};url={view.redirect_url}")
    if view.open:
        return fmt('<noscript><meta http-equiv="refresh" content="{}"></noscript>',
                   NO_JS_REFRESH_S)
    return Html("")


def _no_js_note(view: CheckoutView) -> Html:
    if not view.open:
        return Html("")
    return fmt('<noscript><p class="note">JavaScript is off: this page reloads itself every '
               '{} seconds to show the latest status.</p></noscript>', NO_JS_REFRESH_S)


def clock(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _countdown(view: CheckoutView) -> Html:
    hidden = "" if view.payable else " hidden"
    return fmt('<p class="countdown" id="countdown-line"' + hidden + '>Time left to pay: '
               '<strong id="countdown">{}</strong></p>', clock(view.seconds_left))


def _pay_section(row: Mapping[str, Any], view: CheckoutView, chains: ChainRegistry,
                 tx_request_url: str | None = None) -> Html:
    if not view.payable:
        return Html("")
    pid, asset = str(row["id"]), row["asset"]
    wallet = Html("")
    if view.pay_url:
        wallet = fmt(
            '<figure class="qr"><img src="/pay/{}/qr.svg?amount={}" width="246" height="246" '
            'alt="QR code of the payment request for {} {}: scan it with your wallet app">'
            '<figcaption>Scan with your wallet app</figcaption></figure>'
            '<p><a class="button" id="open-wallet" href="{}">Open in wallet</a></p>',
            pid, view.pay_amount, view.pay_amount, asset, view.pay_url)
    if tx_request_url:
        wallet = Html(wallet + _tx_request(pid, view, asset, tx_request_url))
    return fmt(
        '<section class="pay" id="pay" aria-labelledby="pay-heading">'
        '<h2 id="pay-heading">Send exactly</h2>'
        '<p class="amount"><span id="amount">{amount}</span> {asset} '
        '<button type="button" class="copy" data-copy="amount" '
        'aria-label="Copy the amount, {amount}" hidden>Copy</button></p>'
        '{wallet}'
        '<dl class="details">'
        '<div><dt id="address-label">To this address</dt>'
        '<dd><code id="address" aria-labelledby="address-label">{address}</code> '
        '<button type="button" class="copy" data-copy="address" aria-label="Copy the address" '
        'hidden>Copy</button></dd></div>'
        '<div><dt>Network</dt><dd>{chain}</dd></div>'
        '</dl>'
        '<p class="note">{note}</p>'
        '<p class="copied" id="copied" role="status" aria-live="polite"></p>'
        '</section>',
        amount=view.pay_amount, asset=asset, wallet=wallet, address=row["recipient"],
        chain=chains.display_name(row["chain"]), note=_pay_note(row, chains))


def _tx_request(pid: str, view: CheckoutView, asset: str, url: str) -> Html:
    """The Solana Pay Transaction Request: the wallet fetches a ready transaction from us
    (for wallets that handle `solana:https://...` links; the transfer request above works in
    the others)."""
    return fmt(
        '<details class="tx-request" id="tx-request"><summary>Or let your wallet fetch the '
        'transaction</summary>'
        '<figure class="qr"><img src="/pay/{}/transaction-request/qr.svg?amount={}" '
        'width="246" height="246" alt="QR code of a Solana Pay transaction request for {} {}: '
        'scan it with your wallet app"><figcaption>Scan with a Solana Pay wallet: it asks '
        'this store for the transaction, you approve it</figcaption></figure>'
        '<p><a class="button secondary" id="open-tx-request" href="{}">Open transaction '
        'request in wallet</a></p></details>',
        pid, view.pay_amount, view.pay_amount, asset, url)


def _pay_note(row: Mapping[str, Any], chains: ChainRegistry) -> str:
    network = f"Send {row['asset']} on {chains.display_name(row['chain'])} only."
    chain = chains.get(row["chain"])
    extra = chain.pay_note(row) if chain is not None else None
    return f"{network} {extra}" if extra else network


def not_found_page() -> str:
    assets = static_assets()
    return render_template("not_found.html", css_url=assets["checkout.css"].url)
