"""SQL for the hosted checkout page: only the columns a customer may see, looked up by the
payment's unguessable id alone (the page is public). No metadata, no order, no quote inputs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

_COLUMNS = """
    p.id, p.status, p.exception, p.chain, p.asset, p.decimals, p.recipient, p.amount_due,
    p.amount_received, p.amount_refunded,
    p.currency, p.fiat_amount, p.fiat_amount_due, p.discount_percent,
    p.valuation_percent, p.label, p.message, p.payment_url, p.redirect_url, p.expires_at,
    p.monitor_until, s.name AS store_name, s.allow_framing
"""

SELECT_CHECKOUT = f"""
SELECT {_COLUMNS} FROM payments p JOIN stores s ON s.id = p.store_id WHERE p.id = $1
"""  # noqa: S608 (a constant column list, no input)

# The checkout hub refreshes every payment that has an open event stream in one statement.
SELECT_CHECKOUTS = f"""
SELECT {_COLUMNS} FROM payments p JOIN stores s ON s.id = p.store_id WHERE p.id = ANY($1::uuid[])
"""  # noqa: S608 (a constant column list, no input)


async def checkout(conn: asyncpg.Connection | asyncpg.Pool,
                   payment_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_CHECKOUT, payment_id)


async def checkouts(conn: asyncpg.Connection | asyncpg.Pool,
                    payment_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_CHECKOUTS, list(payment_ids))
