"""The checkout page as HTML: Jinja2 templates (templates/page.html, not_found.html) rendered
with the environment the dashboard uses too (api/rendering.py: autoescaped, strict). A store
name, label or message can hold anything: it reaches the page only through autoescaping."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2

from api import rendering
from api.checkout.view import CheckoutView
from api.rendering import Asset, percent
from paywatch.core.chains import ChainRegistry

# Seconds between reloads for a browser without JavaScript while the payment is open.
NO_JS_REFRESH_S = 10
# How long the confirmed page shows before it takes the customer back to the merchant.
REDIRECT_DELAY_S = 4

_STATIC_TYPES = {"checkout.css": "text/css", "checkout.js": "text/javascript",
                 # the icon Solana Pay wallets show for a Transaction Request (api/txrequest.py)
                 "icon.svg": "image/svg+xml"}


@cache
def static_assets() -> dict[str, Asset]:
    return rendering.load_assets("api.checkout", _STATIC_TYPES, "/checkout/static")


def clock(seconds: int) -> str:
    """The countdown as the page's script shows it (checkout.js clock): 4:05, 1:02:05."""
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@cache
def environment() -> jinja2.Environment:
    env = rendering.environment("api.checkout")
    env.filters.update(clock=clock)
    env.globals.update(static=lambda name: static_assets()[name].url,
                       no_js_refresh=NO_JS_REFRESH_S, redirect_delay=REDIRECT_DELAY_S)
    return env


def discount_reason(row: Mapping[str, Any]) -> str | None:
    """Why the price carries a CFV discount, in words; None when there is no discount."""
    discount = row["discount_percent"]
    if not discount or discount <= 0:
        return None
    below = row["valuation_percent"]
    if below is not None and below < 0:
        return f"{row['asset']} trades {percent(abs(below))} % below its estimated fair value"
    return f"{row['asset']} trades below its fair value"


def page(row: Mapping[str, Any], view: CheckoutView, chains: ChainRegistry,
         tx_request_url: str | None = None) -> str:
    """`tx_request_url`: the payment's Solana Pay Transaction Request, offered beside the
    transfer request when the server has a public URL (api/txrequest.py)."""
    subtitle = row["message"] or (row["label"] if row["label"] != row["store_name"] else None)
    return environment().get_template("page.html").render(
        row=row, view=view, payment_id=str(row["id"]), subtitle=subtitle,
        chain_name=chains.display_name(row["chain"]), discount_reason=discount_reason(row),
        pay_note=_pay_note(row, chains), tx_request_url=tx_request_url)


def _pay_note(row: Mapping[str, Any], chains: ChainRegistry) -> str:
    network = f"Send {row['asset']} on {chains.display_name(row['chain'])} only."
    chain = chains.get(row["chain"])
    extra = chain.pay_note(row) if chain is not None else None
    return f"{network} {extra}" if extra else network


def not_found_page() -> str:
    return environment().get_template("not_found.html").render()
