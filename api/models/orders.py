"""Order and customer request/response models."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import EmailStr, Field, model_validator

from api.models.common import (
    Currency,
    FiatAmount,
    ListResponse,
    Metadata,
    Money,
    OptionalTimestamp,
    QueryModel,
    RequestModel,
    ResponseModel,
    StoredTime,
    Timestamp,
)

Text200 = Annotated[str, Field(min_length=1, max_length=200)]
# Kept equal to paywatch.core.states.ORDER_STATUSES (a test checks): Literal needs the words here.
OrderStatus = Literal["pending_payment", "paid", "fulfilled", "shipped", "delivered",
                      "cancelled", "refunded", "partially_refunded"]


class CustomerIn(RequestModel):
    email: Annotated[EmailStr, Field(max_length=254)]
    name: Text200 | None = None
    wallet: Annotated[str, Field(min_length=32, max_length=100)] | None = None


class ItemIn(RequestModel):
    sku: Annotated[str, Field(min_length=1, max_length=100)]
    name: Text200
    quantity: Annotated[int, Field(ge=1, le=1_000_000)]
    unit_price: FiatAmount


class Address(RequestModel):
    name: Text200
    line1: Text200
    line2: Text200 | None = None
    city: Annotated[str, Field(min_length=1, max_length=100)]
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    region: Annotated[str, Field(max_length=100)] | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


class OrderCreate(RequestModel):
    customer: CustomerIn
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=100)]
    currency: Currency
    shipping: FiatAmount = Decimal(0)
    tax: FiatAmount = Decimal(0)
    shipping_address: Address | None = None
    metadata: Metadata = Field(default_factory=dict)
    subtotal: FiatAmount | None = Field(default=None, description="if sent, must match")
    total: FiatAmount | None = Field(default=None, description="if sent, must match")

    @model_validator(mode="after")
    def _bounded(self) -> OrderCreate:
        if self.computed_total() > Decimal("1000000000"):
            raise ValueError("the order total is over 1,000,000,000")
        return self

    def computed_subtotal(self) -> Decimal:
        return sum((i.unit_price * i.quantity for i in self.items), Decimal(0))

    def computed_total(self) -> Decimal:
        return self.computed_subtotal() + self.shipping + self.tax


class OrderCancel(RequestModel):
    reason: Annotated[str, Field(max_length=500)] | None = None


class Fulfillment(RequestModel):
    status: Literal["fulfilled", "shipped", "delivered"] = "shipped"
    carrier: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    tracking_number: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class OrderListQuery(QueryModel):
    status: OrderStatus | None = None
    customer_email: Annotated[str, Field(max_length=254)] | None = None
    created_gte: StoredTime | None = None
    created_lt: StoredTime | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, Field(max_length=200)] | None = None


class PageQuery(QueryModel):
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, Field(max_length=200)] | None = None


class CustomerOut(ResponseModel):
    email: str
    name: str | None
    wallet: str | None


class ItemOut(ResponseModel):
    sku: str
    name: str
    quantity: int
    unit_price: Money
    total: Money


class AddressOut(ResponseModel):
    name: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    region: str | None
    country: str


class HistoryEntry(ResponseModel):
    from_status: OrderStatus | None
    to_status: OrderStatus
    reason: str | None
    actor: str
    at: Timestamp


class Order(ResponseModel):
    object: Literal["order"] = "order"
    id: str
    number: str
    status: OrderStatus
    currency: str
    customer: CustomerOut | None
    items: list[ItemOut]
    subtotal: Money
    shipping: Money
    tax: Money
    total: Money
    shipping_address: AddressOut | None
    carrier: str | None
    tracking_number: str | None
    metadata: dict[str, str]
    status_history: list[HistoryEntry]
    created_at: Timestamp
    updated_at: Timestamp
    paid_at: OptionalTimestamp
    cancelled_at: OptionalTimestamp


class OrderList(ListResponse):
    data: list[Order]
