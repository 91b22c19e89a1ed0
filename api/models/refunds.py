"""Refund request and response models."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field, model_validator

from api.models.common import (
    BaseUnits,
    ListResponse,
    Money,
    OptionalTimestamp,
    PositiveFiatAmount,
    QueryModel,
    RequestModel,
    ResponseModel,
    Timestamp,
)
from api.models.transfers import Transfer

RefundStatus = Literal["pending", "confirmed", "expired", "cancelled"]
MIN_LIFETIME_S, MAX_LIFETIME_S = 60, 30 * 24 * 3600

# Base units arrive as a decimal string (JSON numbers lose precision beyond 2^53); zero is no
# refund, and 78 digits is the column's range.
PositiveBaseUnits = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,77}$",
                                         description="base units, as a decimal string")]


class RefundCreate(RequestModel):
    amount: PositiveBaseUnits | None = Field(
        default=None, description="what to give back, in the payment's asset's base units")
    fiat_amount: PositiveFiatAmount | None = Field(
        default=None, description="or what to give back in the payment's currency, converted "
        "at `rate`")
    rate: Literal["quote", "market"] = Field(
        default="quote", description="the price a fiat amount is converted at (and the "
        "refund's fiat value recorded with): the payment's quoted price, or today's market "
        "price")
    destination: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="where the money goes back; by default the account that "
        "asked for the Transaction Request, else the payment's sender (none when the payment "
        "was matched by unique amount or came from a program: then it is required)")
    asset: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,12}$")] | None = Field(
        default=None, description="optional check: the payment's asset (a refund goes back "
        "in the asset that was paid)")
    reason: Annotated[str, Field(max_length=500)] | None = None
    expires_in: Annotated[int, Field(ge=MIN_LIFETIME_S, le=MAX_LIFETIME_S)] | None = Field(
        default=None, description="seconds the merchant has to send it (default 24 hours); "
        "a pending refund holds its amount until then")

    @model_validator(mode="after")
    def _amount_or_fiat(self) -> RefundCreate:
        if (self.amount is None) == (self.fiat_amount is None):
            raise ValueError("give either amount (base units) or fiat_amount")
        return self


class RefundCancel(RequestModel):
    reason: Annotated[str, Field(max_length=500)] | None = None


class RefundListQuery(QueryModel):
    status: RefundStatus | None = None
    payment_id: uuid.UUID | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, Field(max_length=200)] | None = None


class RefundRequest(ResponseModel):
    type: str = Field(description="solana_pay (a transfer request from the merchant's wallet "
                      "with a fresh reference) or eip681")
    url: str = Field(description="open it in the merchant's own wallet, which signs and sends")
    reference: str | None
    chain_id: int | None
    qr_code_url: str


class Refund(ResponseModel):
    object: Literal["refund"] = "refund"
    id: str
    status: RefundStatus
    payment_id: str
    order_id: str | None
    chain: str
    asset: str
    mint: str | None
    decimals: int
    amount: BaseUnits
    amount_display: str
    currency: str
    fiat_amount: Money
    rate: Literal["quote", "market"]
    price: str = Field(description="fiat per whole coin the amount was converted at")
    price_source: str
    source: str = Field(description="the merchant's wallet that sends it (on EVM, the "
                        "store's address; any of the merchant's addresses may send it)")
    destination: str
    destination_from: Literal["given", "payer", "sender"]
    reason: str | None
    refund_request: RefundRequest
    transfers: list[Transfer]
    created_by: str
    expires_at: Timestamp
    created_at: Timestamp
    updated_at: Timestamp
    confirmed_at: OptionalTimestamp
    closed_at: OptionalTimestamp


class RefundList(ListResponse):
    data: list[Refund]
