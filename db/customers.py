"""SQL for customers: one per store and e-mail address (case-insensitive)."""

from __future__ import annotations

from typing import Any

import asyncpg

# Upsert keeps the first spelling of the address and refreshes name and wallet when given.
UPSERT_CUSTOMER = """
INSERT INTO customers (store_id, email, name, wallet) VALUES ($1, $2, $3, $4)
ON CONFLICT (store_id, lower(email)) DO UPDATE
SET name = COALESCE(EXCLUDED.name, customers.name),
    wallet = COALESCE(EXCLUDED.wallet, customers.wallet), updated_at = now()
RETURNING id, email, name, wallet
"""

SELECT_CUSTOMER_BY_EMAIL = """
SELECT id, email, name, wallet FROM customers WHERE store_id = $1 AND lower(email) = lower($2)
"""


async def upsert_customer(conn: asyncpg.Connection, store_id: Any, email: str,
                          name: str | None, wallet: str | None) -> asyncpg.Record:
    return await conn.fetchrow(UPSERT_CUSTOMER, store_id, email, name, wallet)


async def customer_by_email(conn: asyncpg.Connection, store_id: Any,
                            email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_CUSTOMER_BY_EMAIL, store_id, email)
