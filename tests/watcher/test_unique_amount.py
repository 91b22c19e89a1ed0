"""Payers who cannot attach a reference, on simnet: a store that opted in gets unique amounts,
and a plain transfer of exactly that amount (SOL, or tokens into the wallet's associated token
account) pays the payment; anything else that arrives waits in the store's inbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import TransferCheckedParams

from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import make_store
from tests.watcher.harness import Harness, harness, until
from watcher.solana.matcher import NO_PAYMENT_OF_AMOUNT, NOT_BY_AMOUNT


@pytest.fixture
async def h(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
            wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, api, await make_store(pool, "uniqshop"), wallet) as hh:
        yield hh


async def send_sol(h: Harness, lamports: int) -> str:
    return await h.wallet.send([transfer(TransferParams(
        from_pubkey=h.wallet.pubkey, to_pubkey=h.merchant.pubkey(), lamports=lamports))])


async def send_usdc(h: Harness, amount: int) -> str:
    mint, owner = Pubkey.from_string(h.mint), h.merchant.pubkey()
    return await h.wallet.send([
        create_idempotent_associated_token_account(h.wallet.pubkey, owner, mint,
                                                   TOKEN_PROGRAM_ID),
        transfer_checked(TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID, mint=mint, amount=amount, decimals=6,
            source=get_associated_token_address(h.wallet.pubkey, mint, TOKEN_PROGRAM_ID),
            dest=get_associated_token_address(owner, mint, TOKEN_PROGRAM_ID),
            owner=h.wallet.pubkey))])


async def inbox(h: Harness, signature: str) -> asyncpg.Record:
    return await h.wait_row("SELECT * FROM transfers WHERE tx_id = $1", signature)


async def opt_in(h: Harness) -> None:
    await h.pool.execute("UPDATE stores SET solana_unique_amount = true "
                         "WHERE solana_recipient = $1", str(h.merchant.pubkey()))


async def test_referenceless_sol_and_token_transfers_pay_unique_amount_payments(
        h: Harness) -> None:
    await opt_in(h)
    watcher = await h.start_watcher()
    sol = [await h.create("30") for _ in range(2)]
    usdc = await h.create("10", "USDC")
    rows = [await h.payment(p["id"]) for p in (*sol, usdc)]
    assert all(r["unique_amount"] for r in rows)
    assert rows[0]["amount_due"] != rows[1]["amount_due"]  # the same price, two amounts
    assert all(r["reference"] for r in rows)  # a wallet may still pay by reference
    await until(lambda: all(watcher.index.lookup_amount(
        str(h.merchant.pubkey()), r["mint"], int(r["amount_due"])) for r in rows),
        "the unique amounts in the index")

    await send_sol(h, int(rows[1]["amount_due"]))
    await send_usdc(h, int(rows[2]["amount_due"]))
    for row in rows[1:]:
        await h.wait_for(str(row["id"]), "confirmed")
        [paid] = await h.transfers(str(row["id"]))
        assert (paid["matched_by"], paid["via_program"], paid["amount"]) == (
            "unique_amount", False, row["amount_due"])
    assert (await h.payment(sol[0]["id"]))["status"] == "pending"

    # one lamport more than any payment asks: the money waits in the inbox, with why
    wrong = await send_sol(h, int(rows[0]["amount_due"]) + 1)
    entry = await inbox(h, wrong)
    assert (entry["payment_id"], entry["unmatched_reason"]) == (None, NO_PAYMENT_OF_AMOUNT)
    assert entry["store_id"] == rows[0]["store_id"]
    assert entry["sender"] == str(h.wallet.pubkey)
    assert entry["status"] in ("confirmed", "finalized")

    # and a reverted inbox transfer leaves the inbox like any transfer
    await h.pool.execute("UPDATE transfers SET status = 'confirmed' WHERE tx_id = $1", wrong)
    await watcher._follow({"tx_id": wrong, "seen_at": entry["seen_at"].replace(year=2000)},
                          None)
    assert await h.pool.fetchval("SELECT status FROM transfers WHERE tx_id = $1",
                                 wrong) == "reverted"


async def test_a_store_without_the_opt_in_gets_the_transfer_in_its_inbox(h: Harness) -> None:
    await h.start_watcher()
    payment = await h.create("30")
    row = await h.payment(payment["id"])
    assert not row["unique_amount"]
    signature = await send_sol(h, int(row["amount_due"]))
    entry = await inbox(h, signature)
    assert (entry["payment_id"], entry["unmatched_reason"]) == (None, NOT_BY_AMOUNT)
    assert entry["store_id"] == row["store_id"]
    assert entry["amount"] == row["amount_due"]
    assert (await h.payment(payment["id"]))["status"] == "pending"
    assert isinstance(entry["store_id"], uuid.UUID)
    # the harness's airdrop to the merchant came before the watcher ever looked at the wallet:
    # its first backfill reads that history for payments, not for the inbox
    assert await h.pool.fetchval("SELECT count(*) FROM transfers") == 1
