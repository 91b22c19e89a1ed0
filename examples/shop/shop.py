"""A small shop wired to paywatch: the whole integration a merchant writes.

1. The customer clicks "Buy": the shop creates an order in paywatch (POST /v1/orders), then a
   payment for it (POST /v1/payments) that comes back to the shop's order page when paid, and
   sends the customer to the payment's hosted checkout page.
2. paywatch watches the chain and, once the payment is confirmed, POSTs `order.paid` to the
   shop's webhook. The shop verifies the signature (never trust an unsigned call), ignores an
   event it has seen (deliveries are at least once), ships, and tells paywatch it fulfilled the
   order (POST /v1/orders/{number}/fulfillment).

Run it next to `paywatch demo` or `paywatch run` (README: "An example shop"):

    SHOP_PAYWATCH_URL=http://127.0.0.1:8080 SHOP_API_KEY=pw_live_... \\
    SHOP_WEBHOOK_SECRET=whsec_... SHOP_PORT=8000 python examples/shop/shop.py

It needs only aiohttp (already installed with paywatch) and keeps its orders in memory: a real
shop keeps them in its own database."""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from aiohttp import ClientSession, web

log = logging.getLogger("shop")

PRODUCTS = {
    "mug": {"name": "paywatch mug", "price": "12.00"},
    "tee": {"name": "paywatch t-shirt", "price": "25.00"},
}


@dataclass
class Shop:
    paywatch_url: str       # where the shop's server reaches paywatch's API
    api_key: str            # a store key with payments:write and orders:write
    webhook_secret: str     # the endpoint's secret, shown once when it was created
    public_url: str         # where customers reach this shop (for the return link)
    asset: str = "SOL"
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)   # number -> order
    seen_events: set[str] = field(default_factory=set)
    http: ClientSession | None = None

    async def paywatch(self, method: str, path: str, body: dict[str, Any],
                       idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if idempotency_key:   # a retried request creates nothing twice
            headers["Idempotency-Key"] = idempotency_key
        assert self.http is not None
        async with self.http.request(method, f"{self.paywatch_url}{path}", json=body,
                                     headers=headers) as resp:
            answer: dict[str, Any] = await resp.json()
            if resp.status >= 400:
                raise web.HTTPBadGateway(text=f"paywatch said {resp.status}: "
                                              f"{answer['error']['message']}")
            return answer


def verify_signature(body: bytes, header: str, secret: str, tolerance_s: int = 300) -> None:
    """Raise ValueError unless `header` (Paywatch-Signature) signs the raw `body`, recently.
    (README "Webhooks" has this function to copy.)"""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    timestamps = [int(v) for k, v in parts if k == "t" and v.isdigit()]
    if not timestamps or abs(time.time() - timestamps[0]) > tolerance_s:
        raise ValueError("missing or stale timestamp")
    expected = hmac.new(secret.encode(), f"{timestamps[0]}.".encode() + body,
                        hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1"):
        raise ValueError("signature mismatch")


SHOP = web.AppKey("shop", Shop)


def page(title: str, body: str) -> web.Response:
    return web.Response(content_type="text/html", text=(
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"))


async def index(request: web.Request) -> web.Response:
    items = "".join(
        f'<li><form method=post action=/buy><input type=hidden name=sku value="{sku}">'
        f'{html.escape(p["name"])}, {p["price"]} USD <button>Buy</button></form></li>'
        for sku, p in PRODUCTS.items())
    return page("paywatch example shop", f"<ul>{items}</ul>")


async def buy(request: web.Request) -> web.Response:
    shop = request.app[SHOP]
    form = await request.post()
    sku, email = str(form.get("sku", "")), str(form.get("email") or "customer@example.com")
    product = PRODUCTS.get(sku)
    if product is None:
        raise web.HTTPNotFound(text="no such product")
    order = await shop.paywatch("POST", "/v1/orders", {
        "customer": {"email": email}, "currency": "USD",
        "items": [{"sku": sku, "name": product["name"], "quantity": 1,
                   "unit_price": product["price"]}]})
    number = order["number"]
    shop.orders[number] = {"number": number, "sku": sku, "status": "awaiting payment"}
    payment = await shop.paywatch("POST", "/v1/payments", {
        "order_id": order["id"], "chain": "solana", "asset": shop.asset,
        "redirect_url": f"{shop.public_url}/orders/{number}"},
        idempotency_key=f"pay-{number}")
    log.info("order %s created, customer sent to checkout", number)
    # Absolute when paywatch has a PAYWATCH_PUBLIC_URL (production); a path on paywatch else.
    raise web.HTTPSeeOther(urljoin(f"{shop.paywatch_url}/", payment["checkout_url"]))


async def order_page(request: web.Request) -> web.Response:
    order = request.app[SHOP].orders.get(request.match_info["number"])
    if order is None:
        raise web.HTTPNotFound(text="no such order")
    return page(f"Order {order['number']}",
                f'<p id=status>{html.escape(order["status"])}</p>')


async def webhook(request: web.Request) -> web.Response:
    shop = request.app[SHOP]
    body = await request.read()
    try:
        verify_signature(body, request.headers.get("Paywatch-Signature", ""),
                         shop.webhook_secret)
    except ValueError as exc:
        log.warning("refused a webhook: %s", exc)
        raise web.HTTPBadRequest(text=f"bad signature: {exc}") from None
    event = await request.json()
    if event["id"] in shop.seen_events:       # delivered again: already handled
        return web.Response(text="seen")
    if event["type"] == "order.paid":
        await fulfil(shop, event["data"]["object"])
    shop.seen_events.add(event["id"])
    return web.Response(text="ok")


async def fulfil(shop: Shop, paid: dict[str, Any]) -> None:
    order = shop.orders.get(paid["number"])
    if order is None:   # an order another system created: not ours to ship
        return
    order["status"] = "paid, shipping"
    await shop.paywatch("POST", f"/v1/orders/{paid['number']}/fulfillment",
                        {"status": "fulfilled"}, idempotency_key=f"fulfil-{paid['number']}")
    order["status"] = "fulfilled"
    log.info("order %s paid and fulfilled", paid["number"])


def build_app(shop: Shop) -> web.Application:
    app = web.Application()
    app[SHOP] = shop

    async def session(app: web.Application) -> Any:
        async with ClientSession() as http:
            shop.http = http
            yield

    app.cleanup_ctx.append(session)
    app.router.add_get("/", index)
    app.router.add_post("/buy", buy)
    app.router.add_get("/orders/{number}", order_page)
    app.router.add_post("/webhooks/paywatch", webhook)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    port = int(os.environ.get("SHOP_PORT", "8000"))
    shop = Shop(paywatch_url=os.environ.get("SHOP_PAYWATCH_URL", "http://127.0.0.1:8080"),
                api_key=os.environ["SHOP_API_KEY"],
                webhook_secret=os.environ["SHOP_WEBHOOK_SECRET"],
                public_url=os.environ.get("SHOP_PUBLIC_URL", f"http://127.0.0.1:{port}"),
                asset=os.environ.get("SHOP_ASSET", "SOL"))
    web.run_app(build_app(shop), host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
