"""SQL for the dashboard's inbox: the payments an unmatched transfer could be assigned to.

Candidates are the store's payments of the transfer's chain and asset (the assign itself
checks both again, db/transfers.ASSIGN). Searched by payment id, by order number, or by an
amount (in the coin, as a person reads it, or in the payment's fiat currency); without a search,
the payments that can still take a transfer, nearest the transfer's amount first. Those that
can take it (open or expired) always come first."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg

# $5 payment id, $6 order number, $7 amount (coins or fiat): each NULL when not searched by it;
# with none of them, only payments of statuses $9 are listed. $8: the transfer's base units.
CANDIDATES = """
SELECT p.id, p.status, p.exception, p.chain, p.asset, p.mint, p.decimals, p.amount_due,
       p.amount_received, p.currency, p.fiat_amount, p.created_at, p.expires_at,
       o.number AS order_number, p.status = ANY($9::text[]) AS assignable
FROM payments p LEFT JOIN orders o ON o.id = p.order_id
WHERE p.store_id = $1 AND p.chain = $2 AND p.asset = $3 AND p.mint IS NOT DISTINCT FROM $4
  AND ($5::uuid IS NULL OR p.id = $5)
  AND ($6::text IS NULL OR o.number = $6)
  AND ($7::numeric IS NULL OR p.amount_due = $7 * 10::numeric ^ p.decimals
       OR p.fiat_amount = $7)
  AND ($5::uuid IS NOT NULL OR $6::text IS NOT NULL OR $7::numeric IS NOT NULL
       OR p.status = ANY($9::text[]))
ORDER BY p.status = ANY($9::text[]) DESC, abs(p.amount_due - $8::numeric), p.created_at DESC,
         p.id
LIMIT $10
"""


async def candidates(conn: asyncpg.Connection, store_id: Any, transfer: asyncpg.Record, *,
                     payment_id: Any | None, order_number: str | None,
                     amount: Decimal | None, assignable: Sequence[str],
                     limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(CANDIDATES, store_id, transfer["chain"], transfer["asset"],
                            transfer["mint"], payment_id, order_number, amount,
                            transfer["amount"], list(assignable), limit)
