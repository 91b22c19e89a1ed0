"""Unique amounts: a payment whose amount no other watched payment to the same recipient and
asset has, so a transfer without a reference (an exchange withdrawal, a hand-typed transfer)
still finds it by its exact amount. One way for every chain: an EVM shared address, and a
Solana store that opted in (`stores.solana_unique_amount`)."""

from __future__ import annotations

import asyncpg

from db import payments as db
from paywatch.core.payments import shared_amount_range, unique_amount
from paywatch.core.states import OPEN_PAYMENT, WATCHED_PAYMENT


async def pick_unique_amount(conn: asyncpg.Connection, chain: str, recipient: str,
                             mint: str | None, amount: int, decimals: int) -> int | None:
    """Inside the payment's transaction (the amount space of (chain, recipient, asset) stays
    locked until it ends): the smallest free amount >= `amount`, raised in its last digits;
    None when every amount of the range is taken. `recipient` in the chain's canonical form,
    as the payment stores it."""
    low, high = shared_amount_range(amount, decimals)
    taken = await db.taken_unique_amounts(conn, chain, recipient, mint, low, high,
                                          open_statuses=OPEN_PAYMENT,
                                          watched_statuses=WATCHED_PAYMENT)
    return unique_amount(amount, decimals, taken)
