"""Migration 0006 stores each payment's request format: rows made before it get the format the
readers used to guess (Solana Pay with a reference, else EIP-681 with the URI's chain id)."""

from __future__ import annotations

from db import stores
from db.migrator import Migrator
from db.pool import connect

# The columns a payment row needed at version 5 (the rest have defaults).
OLD_PAYMENT = """
INSERT INTO payments (store_id, chain, asset, decimals, recipient, reference, amount_due,
    required_commitment, currency, fiat_amount, fiat_amount_due, price, price_source, price_at,
    quote, payment_url, expires_at, monitor_until)
VALUES ($1, $2, $3, 9, $4, $5, 1000, 'confirmed', 'USD', 1, 1, 150, 'static', now(), '{}',
        $6, now() + interval '15 minutes', now() + interval '1 day')
RETURNING id
"""
EVM_URI = "ethereum:0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48@8453/transfer?address=0x1&uint256=1"


async def test_payments_made_before_it_get_the_request_format_that_was_guessed(
        empty_db_dsn: str) -> None:
    conn = await connect(empty_db_dsn)
    try:
        migrator = Migrator(conn, progress=lambda _line: None)
        await migrator.up(to=5)
        store = await stores.insert_store(conn, "old", "Old", None)
        solana = await conn.fetchval(OLD_PAYMENT, store["id"], "solana", "SOL", "Recipient1",
                                     "Reference1", "solana:Recipient1?amount=0.000001")
        evm = await conn.fetchval(OLD_PAYMENT, store["id"], "base", "USDC", "0x1", None,
                                  EVM_URI)
        await migrator.up(to=6)
        rows = {r["id"]: (r["request_type"], r["request_chain_id"]) for r in await conn.fetch(
            "SELECT id, request_type, request_chain_id FROM payments")}
        assert rows == {solana: ("solana_pay", None), evm: ("eip681", 8453)}
    finally:
        await conn.close()
