"""Fiat amounts print one way everywhere: a payment, its order, a quote for the same amount, the
payment.created webhook and the payment's embedded quote all say "30.00" (the currency's minor
units), never the stored NUMERIC(20,8) "30.00000000"."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

ORDER = {"customer": {"email": "ada@example.com", "name": "Ada"},
         "items": [{"sku": "MUG-1", "name": "Mug", "quantity": 2, "unit_price": "12.50"}],
         "currency": "USD", "shipping": "5"}


async def test_payment_order_and_quote_print_the_same_fiat_string(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    created = await api.post("/v1/orders", json=ORDER, headers=merchant)
    assert created.status == 201, await created.text()
    order = await created.json()
    resp = await api.post("/v1/payments", json={"order_id": order["id"], "asset": "SOL"},
                          headers=merchant)
    assert resp.status == 201, await resp.text()
    payment = await resp.json()
    quote = await (await api.get("/v1/quotes", params={"asset": "SOL", "amount": "30"},
                                 headers=merchant)).json()
    fetched = await (await api.get(f"/v1/payments/{payment['id']}", headers=merchant)).json()
    event = await pool.fetchval("SELECT data FROM events WHERE type = 'payment.created'")

    assert order["total"] == "30.00"
    shown = {payment["fiat_amount"], payment["fiat_amount_due"], fetched["fiat_amount"],
             fetched["fiat_amount_due"], payment["quote"]["fiat_amount"],
             payment["quote"]["fiat_amount_due"], quote["fiat_amount"], quote["fiat_amount_due"],
             event["object"]["fiat_amount"], event["object"]["fiat_amount_due"]}
    assert shown == {"30.00"}


@pytest.mark.parametrize(("amount", "shown"), [("12", "12.00"), ("0.5", "0.50"),
                                               ("7.25", "7.25")])
async def test_a_direct_payment_shows_the_currencys_minor_units(
        api: TestClient, merchant: dict[str, str], amount: str, shown: str) -> None:
    resp = await api.post("/v1/payments", headers=merchant,
                          json={"amount": amount, "currency": "USD", "asset": "SOL"})
    assert resp.status == 201, await resp.text()
    payment = await resp.json()
    assert (payment["fiat_amount"], payment["quote"]["fiat_amount"]) == (shown, shown)
