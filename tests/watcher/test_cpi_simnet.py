"""A transfer made inside a program, on simnet: the Associated Token Account program's
RecoverNested moves tokens sent to a nested ATA (the ATA of the merchant's own ATA) back into
the merchant's ATA with a CPI transferChecked. With no reference, it pays the unique-amount
payment asking exactly that amount, marked via_program."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import TransferCheckedParams

from simnet.methods import Methods
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import make_store
from tests.watcher.harness import Harness, harness, until


@pytest.fixture
async def h(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
            wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, api, await make_store(pool, "cpishop"), wallet) as hh:
        yield hh


def recover_nested(wallet: Pubkey, mint: Pubkey) -> Instruction:
    owner_ata = get_associated_token_address(wallet, mint, TOKEN_PROGRAM_ID)
    nested = get_associated_token_address(owner_ata, mint, TOKEN_PROGRAM_ID)
    return Instruction(ASSOCIATED_TOKEN_PROGRAM_ID, bytes([2]), [
        AccountMeta(nested, is_signer=False, is_writable=True),
        AccountMeta(mint, is_signer=False, is_writable=False),
        AccountMeta(owner_ata, is_signer=False, is_writable=True),
        AccountMeta(owner_ata, is_signer=False, is_writable=False),
        AccountMeta(mint, is_signer=False, is_writable=False),
        AccountMeta(wallet, is_signer=True, is_writable=True),
        AccountMeta(TOKEN_PROGRAM_ID, is_signer=False, is_writable=False)])


async def test_a_cpi_transfer_checked_into_the_merchant_ata_pays_by_unique_amount(
        h: Harness) -> None:
    await h.pool.execute("UPDATE stores SET solana_unique_amount = true "
                         "WHERE solana_recipient = $1", str(h.merchant.pubkey()))
    watcher = await h.start_watcher()
    payment = await h.create("10", "USDC")
    row = await h.payment(payment["id"])
    amount, mint, merchant = int(row["amount_due"]), Pubkey.from_string(h.mint), \
        h.merchant.pubkey()
    await until(lambda: watcher.index.lookup_amount(str(merchant), h.mint, amount),
                "the unique amount in the index")
    owner_ata = get_associated_token_address(merchant, mint, TOKEN_PROGRAM_ID)
    nested = get_associated_token_address(owner_ata, mint, TOKEN_PROGRAM_ID)
    # The customer sends to the wrong account: the ATA of the merchant's ATA (a known mistake
    # wallets make); the nested account is not watched, so nothing is recorded yet.
    await h.wallet.send([
        create_idempotent_associated_token_account(h.wallet.pubkey, merchant, mint,
                                                   TOKEN_PROGRAM_ID),
        create_idempotent_associated_token_account(h.wallet.pubkey, owner_ata, mint,
                                                   TOKEN_PROGRAM_ID),
        transfer_checked(TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID, mint=mint, amount=amount, decimals=6,
            source=get_associated_token_address(h.wallet.pubkey, mint, TOKEN_PROGRAM_ID),
            dest=nested, owner=h.wallet.pubkey))])
    # The merchant recovers it: the ATA program moves it by CPI into the merchant's ATA.
    signature = await h.wallet.send([recover_nested(merchant, mint)], [h.merchant])
    await h.wait_for(payment["id"], "confirmed")
    [paid] = await h.transfers(payment["id"])
    assert paid["tx_id"] == signature
    assert (paid["matched_by"], paid["via_program"], paid["amount"]) == (
        "unique_amount", True, amount)
    assert paid["index"] >= 10_000  # an inner instruction's index
    # simnet answers inner instructions in the json encoding as a node does (the matcher
    # reads nothing else): compiled indices, base58 data, the CPI's stack height
    tx = Methods(h.sim.ledger).call("getTransaction", [signature, {
        "encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}])
    [group] = tx["meta"]["innerInstructions"]
    assert group["index"] == 0
    moved = group["instructions"][0]
    assert set(moved) == {"programIdIndex", "accounts", "data", "stackHeight"}
    keys = tx["transaction"]["message"]["accountKeys"]
    assert keys[moved["programIdIndex"]] == str(TOKEN_PROGRAM_ID)
    assert moved["stackHeight"] == 2
    assert keys[moved["accounts"][2]] == str(owner_ata)
