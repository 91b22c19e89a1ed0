"""Transfer models: a transfer as payments embed it and the store's inbox lists it, and the
inbox's requests (assign to a payment, dismiss with a reason)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from api.models.common import (
    BaseUnits,
    ListResponse,
    Money,
    ObjectId,
    OptionalTimestamp,
    QueryModel,
    RequestModel,
    ResponseModel,
    SeqCursor,
    Timestamp,
)

MatchedBy = Literal["reference", "transaction_request", "unique_amount", "deposit_address",
                    "assigned"]
InboxState = Literal["open", "assigned", "dismissed", "all"]


class Transfer(ResponseModel):
    object: Literal["transfer"] = "transfer"
    id: str
    payment_id: str | None = Field(description="the payment it pays; null while in the inbox")
    chain: str
    tx_id: str
    index: int
    asset: str
    mint: str | None
    sender: str | None
    recipient: str
    amount: BaseUnits
    memo: str | None
    slot: int | None = Field(description="the slot (Solana) or block number (EVM)")
    block_time: OptionalTimestamp
    status: Literal["processed", "confirmed", "finalized", "reverted", "rejected"]
    reject_reason: str | None = Field(
        description="why a transfer naming a payment moved no money to it (status rejected)")
    matched_by: MatchedBy | None
    via_program: bool = Field(description="the value moved inside a program (a Solana CPI, an "
                                          "EVM internal call): the sender may be a contract")
    unmatched_reason: str | None = Field(
        description="why it paid no payment when it arrived: set on every inbox entry")
    resolution: Literal["assigned", "dismissed"] | None
    resolved_at: OptionalTimestamp
    resolved_by: str | None = Field(description="the API key that assigned or dismissed it")
    resolution_note: str | None
    seen_at: Timestamp
    confirmed_at: OptionalTimestamp
    reverted_at: OptionalTimestamp
    direction: Literal["in", "out"] = Field(
        description="in: money paid to the store; out: a refund the merchant's wallet sent")
    refund_id: str | None = Field(description="the refund an outgoing transfer sends")
    currency: str | None = Field(
        description="the fiat currency of its values: its payment's, else its refund's, else "
                    "the store's default (an inbox entry, once valued)")
    fiat_at_quote: Money | None = Field(
        description="its value at the payment's quoted price (null while it pays no payment)")
    fiat_at_confirmation: Money | None = Field(
        description="its value at the market price when it was confirmed (null until valued)")
    market_price: Money | None = Field(
        description="that market price, per whole coin, in `currency`")


class TransferList(ListResponse):
    data: list[Transfer]


class InboxQuery(QueryModel):
    state: InboxState = Field(
        default="open", description="open: waiting for the merchant (not reverted); assigned, "
                                    "dismissed, or all")
    chain: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] | None = None
    asset: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,12}$",
                                description="e.g. SOL, USDC (any case)")] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: SeqCursor | None = None


class AssignRequest(RequestModel):
    payment_id: ObjectId
    note: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class DismissRequest(RequestModel):
    reason: Annotated[str, Field(min_length=1, max_length=500,
                                 description="why this money pays nothing (e.g. the owner's "
                                             "own top-up)")]
