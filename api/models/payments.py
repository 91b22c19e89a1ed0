"""Payment request and response models."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, AnyHttpUrl, Field, model_validator

from api.models.common import (
    BaseUnits,
    Currency,
    HttpUrl,
    ListResponse,
    Metadata,
    Money,
    ObjectId,
    OptionalTimestamp,
    PositiveFiatAmount,
    QueryModel,
    RequestModel,
    ResponseModel,
    StoredTime,
    Timestamp,
)
from api.models.quotes import QuoteOut
from api.models.transfers import Transfer


def _shown_by_checkout(url: AnyHttpUrl) -> AnyHttpUrl:
    """Refuse what the checkout page would silently drop: the page's own rule decides, so the
    API and the page cannot disagree about a redirect."""
    from api.checkout.view import safe_redirect  # the checkout package imports these models

    if safe_redirect(str(url)) is None:
        raise ValueError("the checkout page cannot redirect there: use an absolute http(s) URL "
                         "of at most 2048 characters without quotes, spaces, backslashes, "
                         "angle brackets or control characters")
    return url


RedirectUrl = Annotated[HttpUrl, AfterValidator(_shown_by_checkout)]

Asset = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,12}$", description="e.g. SOL, USDC")]
MIN_LIFETIME_S, MAX_LIFETIME_S = 60, 7 * 24 * 3600


class PaymentCreate(RequestModel):
    order_id: ObjectId | None = Field(
        default=None, description="the order to pay; its total and currency are used")
    amount: PositiveFiatAmount | None = Field(default=None,
                                              description="fiat amount, without an order")
    currency: Currency | None = None
    asset: Asset
    chain: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] = Field(
        default="solana", description="`solana` or an EVM chain the operator configured")
    label: Annotated[str, Field(max_length=200)] | None = None
    message: Annotated[str, Field(max_length=500)] | None = None
    memo: Annotated[str, Field(max_length=500)] | None = None
    expires_in: Annotated[int, Field(ge=MIN_LIFETIME_S, le=MAX_LIFETIME_S)] | None = Field(
        default=None, description="seconds until the quote expires (default: the store's)")
    redirect_url: RedirectUrl | None = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _order_or_amount(self) -> PaymentCreate:
        if self.order_id is not None and (self.amount is not None or self.currency is not None):
            raise ValueError("give either order_id or amount and currency, not both")
        if self.order_id is None and (self.amount is None or self.currency is None):
            raise ValueError("give order_id, or amount and currency")
        if self.redirect_url is not None and len(str(self.redirect_url)) > 2048:
            raise ValueError("redirect_url is longer than 2048 characters")
        return self


class SettleRequest(RequestModel):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class CancelRequest(RequestModel):
    reason: Annotated[str, Field(max_length=500)] | None = None


class PaymentListQuery(QueryModel):
    status: Literal["pending", "detected", "confirmed", "expired", "invalid",
                    "cancelled"] | None = None
    asset: Asset | None = None
    order_id: uuid.UUID | None = None
    created_gte: StoredTime | None = None
    created_lt: StoredTime | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, Field(max_length=200)] | None = None


class PaymentRequest(ResponseModel):
    type: str = Field(
        description="the request's format, named by its chain: solana_pay (a Solana Pay "
        "transfer request with a unique reference), eip681 (an EVM payment URI: ERC-20 "
        "transfer call or native value); `unknown` for a chain no longer configured")
    url: str
    reference: str | None = Field(description="Solana Pay reference key; none on EVM chains")
    recipient: str = Field(description="where the money goes: a wallet, or on EVM the "
                           "payment's deposit address or the store's shared address")
    amount: BaseUnits = Field(description="exactly what to send, in base units")
    asset_contract: str | None = Field(description="SPL mint or ERC-20 contract; none for "
                                       "the native coin")
    chain_id: int | None = Field(description="EVM chain id; none on Solana")
    qr_code_url: str
    transaction_request_url: str | None = Field(
        description="Solana only, when PAYWATCH_PUBLIC_URL is set: the Solana Pay Transaction "
        "Request `solana:{PAYWATCH_PUBLIC_URL}/pay/{id}/transaction-request`. The wallet GETs "
        "the link for the store's label and icon, then POSTs the customer's account and gets "
        "an unsigned transaction (the customer pays the fee) for the amount still due; the "
        "account is recorded as the payment's payer. Null on EVM chains and without a public "
        "URL")


class Payment(ResponseModel):
    object: Literal["payment"] = "payment"
    id: str
    status: str
    exception: str | None
    order_id: str | None
    chain: str
    asset: str
    mint: str | None
    decimals: int
    amount_due: BaseUnits = Field(description="base units, as a decimal string")
    amount_due_display: str = Field(description="amount_due in whole units, e.g. \"1.5\"")
    amount_received: BaseUnits
    amount_received_display: str
    amount_refunded: BaseUnits = Field(description="what confirmed refunds gave back, in base "
                                       "units")
    currency: str
    fiat_amount: Money
    fiat_amount_due: Money
    required_commitment: str
    checkout_url: str = Field(description="the hosted checkout page for the customer: "
                              "PAYWATCH_PUBLIC_URL + /pay/{id} when the operator set it, "
                              "else the path /pay/{id} on this server")
    payment_request: PaymentRequest
    quote: QuoteOut
    transfers: list[Transfer]
    label: str | None
    message: str | None
    memo: str | None
    redirect_url: str | None
    metadata: dict[str, str]
    expires_at: Timestamp
    monitor_until: Timestamp
    confirm_deadline_at: OptionalTimestamp
    created_at: Timestamp
    updated_at: Timestamp
    detected_at: OptionalTimestamp
    confirmed_at: OptionalTimestamp
    closed_at: OptionalTimestamp


class PaymentList(ListResponse):
    data: list[Payment]
