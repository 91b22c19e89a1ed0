"""Database rows -> response models (one place, so every endpoint shows an object the same way)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from api.models.orders import Order
from api.models.payments import Payment
from paywatch.core.objects import payment_object


def payment_out(row: asyncpg.Record, transfers: Sequence[asyncpg.Record],
                public_url: str | None) -> Payment:
    """The response model over the one JSON builder that events use too."""
    return Payment.model_validate(payment_object(row, transfers, public_url))


def order_out(order: dict[str, Any]) -> Order:
    """The response model over the JSON builder order.* events use too (core order_object)."""
    return Order.model_validate(order)
