"""Webhook payloads: one model per event type, as the delivery body `{id, type, created_at,
data}` really is. `data.object` is the object exactly as the API shows it (the same response
models), and the fields beside it are those the emitting code adds:

- payment.*: paywatch/services/payments.py `payment_event` (previous_status, reason, and
  settled_by_hand on payment.confirmed);
- order.*: paywatch/services/order_events.py `emit` with each caller's extras
  (paywatch/services/orders.py, payments.py `pay_order`);
- transfer.*: paywatch/services/transfers.py (the transfer alone);
- refund.*: paywatch/services/refunds.py `_emit` and `expire_due`;
- webhook_endpoint.disabled: watcher/webhooks.py `_disabled` (no object: the endpoint's id,
  URL and why).

The models forbid unknown fields, so a field added to an event without its model fails the test
that validates real emitted events (tests/test_docs_events.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from api.models.common import ResponseModel, Timestamp
from api.models.orders import Order
from api.models.payments import Payment
from api.models.refunds import Refund
from api.models.transfers import Transfer


class PaymentEventData(ResponseModel):
    object: Payment = Field(description="the payment as GET /v1/payments/{id} shows it now")
    previous_status: str = Field(description="the status the payment left")
    reason: str | None = Field(description="the merchant's reason when a person made the "
                               "change; null otherwise")


class PaymentConfirmedData(PaymentEventData):
    settled_by_hand: bool = Field(description="true when the merchant settled it through "
                                  "POST /v1/payments/{id}/settle")


class OrderCreatedData(ResponseModel):
    object: Order = Field(description="the order as GET /v1/orders/{id} shows it now")


class OrderPaidData(OrderCreatedData):
    previous_status: str
    payment_id: str = Field(description="the payment that paid the order")


class OrderCancelledData(OrderCreatedData):
    previous_status: str
    reason: str | None = Field(description="the merchant's reason, or null")


class OrderFulfilledData(OrderCreatedData):
    previous_status: str


class OrderRefundData(OrderCreatedData):
    previous_status: str
    reason: str | None = Field(description="what moved the order (the refund's confirmation "
                               "or reversal)")
    payment_id: str = Field(description="the refunded payment")


class TransferEventData(ResponseModel):
    object: Transfer = Field(description="the transfer as GET /v1/transfers/{id} shows it now")


class RefundEventData(ResponseModel):
    object: Refund = Field(description="the refund as GET /v1/refunds/{id} shows it now")
    previous_status: str | None = Field(description="the status it left; null on "
                                        "refund.created")
    reason: str | None = Field(description="the merchant's reason when a person made the "
                               "change; null otherwise")


class EndpointDisabledData(ResponseModel):
    endpoint_id: str
    url: str
    reason: str


class EventEnvelope(ResponseModel):
    """What every delivery's body holds; dedupe on `id` (also in Paywatch-Event-Id)."""

    id: str = Field(description="the event's id, as GET /v1/events/{id} knows it")
    created_at: Timestamp


# Event type -> its data model. Kept in the README's order (its "Webhooks" section).
EVENT_DATA: dict[str, type[BaseModel]] = {
    "payment.created": PaymentEventData, "payment.detected": PaymentEventData,
    "payment.confirmed": PaymentConfirmedData, "payment.expired": PaymentEventData,
    "payment.paid_late": PaymentEventData, "payment.cancelled": PaymentEventData,
    "payment.reverted": PaymentEventData, "payment.invalid": PaymentEventData,
    "order.created": OrderCreatedData, "order.paid": OrderPaidData,
    "order.cancelled": OrderCancelledData, "order.fulfilled": OrderFulfilledData,
    "transfer.unmatched": TransferEventData, "transfer.assigned": TransferEventData,
    "transfer.dismissed": TransferEventData,
    "refund.created": RefundEventData, "refund.confirmed": RefundEventData,
    "refund.expired": RefundEventData, "refund.cancelled": RefundEventData,
    "refund.reverted": RefundEventData,
    "order.refunded": OrderRefundData, "order.partially_refunded": OrderRefundData,
    "order.refund_reverted": OrderRefundData,
    "webhook_endpoint.disabled": EndpointDisabledData,
}


EVENT_SUMMARIES: dict[str, str] = {
    "payment.created": "A payment was created (its quote and payment request are set)",
    "payment.detected": "Money for the payment was seen, not yet at the required depth",
    "payment.confirmed": "The payment is paid in full at the required confirmation level, or "
                         "was settled by hand",
    "payment.expired": "The payment's quote expired unpaid (or money came after it expired)",
    "payment.paid_late": "Money arrived after the payment expired (it stays expired unless "
                         "the store accepts late payments)",
    "payment.cancelled": "The payment was cancelled (by the merchant, or with its order)",
    "payment.reverted": "What was seen left the chain (a reorg or dead fork): back to pending",
    "payment.invalid": "What was seen never confirmed before the confirmation deadline",
    "order.created": "An order was created",
    "order.paid": "A confirmed payment paid the order",
    "order.cancelled": "The order was cancelled, with its pending payments",
    "order.fulfilled": "The order was fulfilled, shipped or delivered",
    "transfer.unmatched": "Money reached one of the store's accounts and matched no payment: "
                          "it waits in the inbox",
    "transfer.assigned": "An inbox entry was assigned to a payment",
    "transfer.dismissed": "An inbox entry was dismissed with a reason",
    "refund.created": "A refund request was created for the merchant's wallet to sign",
    "refund.confirmed": "The refund's transfer confirmed on the chain",
    "refund.expired": "The refund request expired unsent",
    "refund.cancelled": "The refund was cancelled",
    "refund.reverted": "The refund's transfer left the chain: back to pending",
    "order.refunded": "Confirmed refunds gave back all the order's payment received",
    "order.partially_refunded": "Confirmed refunds gave back part of what the payment received",
    "order.refund_reverted": "A refund reverted and the order went back to its status before",
    "webhook_endpoint.disabled": "Every delivery to an endpoint failed for five days: it was "
                                 "disabled",
}


def model_name(event_type: str) -> str:
    """payment.paid_late -> PaymentPaidLateEvent (the schema's name in the document)."""
    words = event_type.replace(".", "_").split("_")
    return "".join(w.capitalize() for w in words) + "Event"


def _event_model(event_type: str, data: type[BaseModel]) -> type[BaseModel]:
    fields: dict[str, Any] = {"type": (Literal[event_type], ...), "data": (data, ...)}
    return create_model(model_name(event_type), __base__=EventEnvelope,
                        __doc__=f"The body of each `{event_type}` delivery.", **fields)


EVENT_MODELS: dict[str, type[BaseModel]] = {
    event_type: _event_model(event_type, data) for event_type, data in EVENT_DATA.items()}
