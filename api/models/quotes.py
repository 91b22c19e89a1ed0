"""The quote object: every input of a payment's amount, as stored on the payment."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from api.models.common import Currency, FiatAmount, QueryModel, ResponseModel


class PriceObservation(ResponseModel):
    source: str
    price: str
    at: str


class Cfv(ResponseModel):
    fair_value: str | None
    fair_value_source: str | None
    fair_value_inputs: dict[str, str] | None
    valuation_percent: str | None = Field(description="negative = undervalued")
    valuation_status: Literal["undervalued", "fair", "overvalued"] | None
    discount_percent: str
    reason: str


class QuoteOut(ResponseModel):
    asset: str
    decimals: int
    currency: str
    fiat_amount: str = Field(description="before the CFV discount")
    fiat_amount_due: str = Field(description="after the CFV discount")
    amount: str = Field(description="crypto amount due, in base units")
    amount_display: str
    price: str
    price_source: str
    price_at: str
    price_observations: list[PriceObservation]
    cfv: Cfv
    rounding: str
    computed_at: str


class QuoteQuery(QueryModel):
    asset: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,12}$")]
    amount: FiatAmount
    currency: Currency | None = None
    chain: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] = "solana"
