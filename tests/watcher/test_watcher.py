"""The Solana watcher end to end: payments made through the API, paid on simnet by a wallet,
confirmed (or not) by a real watcher task on real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from paywatch.core.redact import mask_url
from paywatch.core.solanapay import CLUSTERS
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import make_store
from tests.watcher.harness import Harness, harness
from tests.watcher.test_late_index import until
from watcher.solana.service import SolanaWatcher, WatcherConfig


@pytest.fixture
async def h(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
            wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, api, await make_store(pool, "chainshop"), wallet) as hh:
        yield hh


async def test_sol_and_usdc_paid_exactly_are_confirmed(h: Harness) -> None:
    await h.start_watcher()
    sol = await h.create("30", memo="ORD-1")
    usdc = await h.create("19.99", "USDC")
    await h.wallet.pay(sol["payment_request"]["url"])
    await h.wallet.pay(usdc["payment_request"]["url"])
    for payment in (sol, usdc):
        row = await h.wait_for(payment["id"], "confirmed")
        assert row["exception"] is None
        assert row["amount_received"] == int(payment["amount_due"])
    events = await h.pool.fetch("SELECT type FROM events WHERE payment_id = $1 ORDER BY seq",
                                (await h.payment(sol["id"]))["id"])
    assert [e["type"] for e in events] == ["payment.created", "payment.confirmed"]
    await h.wait_for(sol["id"], "confirmed")
    # and the transfers are followed to finalized by the tracker (bounded wait: 20 s)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        statuses = {t["status"] for t in await h.transfers(sol["id"])}
        if statuses == {"finalized"} or loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    assert statuses == {"finalized"}


async def test_underpaid_then_topped_up_and_overpaid(h: Harness) -> None:
    from paywatch.core.solanapay import build_transfer_url

    await h.start_watcher()
    short = await h.create("30")
    over = await h.create("30")
    due = int(short["amount_due"])
    ref = short["payment_request"]["reference"]
    recipient = str(h.merchant.pubkey())

    def url(amount: int, reference: str) -> str:
        return build_transfer_url(recipient=recipient, amount_base_units=amount, decimals=9,
                                  spl_token=None, references=[reference])

    await h.wallet.pay(url(due // 2, ref))
    row = await h.wait_for(short["id"], "detected")
    assert row["exception"] == "underpaid"
    await h.wallet.pay(url(due - due // 2, ref))
    row = await h.wait_for(short["id"], "confirmed")
    assert (row["exception"], row["amount_received"]) == ("multiple", due)

    await h.wallet.pay(url(int(over["amount_due"]) * 2, over["payment_request"]["reference"]))
    row = await h.wait_for(over["id"], "confirmed")
    assert row["exception"] == "overpaid"


async def test_wrong_payments_are_rejected_or_wait_in_the_inbox(h: Harness) -> None:
    from solders.keypair import Keypair

    from paywatch.core.solanapay import build_transfer_url

    await h.start_watcher()
    memo = await h.create("30", memo="ORD-9")
    wrong_mint = await h.create("10", "USDC")
    ref = memo["payment_request"]["reference"]
    # the right recipient and amount, but another memo
    await h.wallet.pay(build_transfer_url(
        recipient=str(h.merchant.pubkey()), amount_base_units=int(memo["amount_due"]),
        decimals=9, spl_token=None, references=[ref], memo="ORD-8"))
    # a token the store did not ask for, into the right wallet
    other_mint = await h.wallet.create_mint(6, 10**12)
    await h.wallet.pay(build_transfer_url(
        recipient=str(h.merchant.pubkey()), amount_base_units=10_000_000, decimals=6,
        spl_token=str(other_mint), references=[wrong_mint["payment_request"]["reference"]]))
    # paid to someone else entirely (the watcher sees it through reconciliation or not at
    # all: it is not the store's account)
    stranger = Keypair().pubkey()
    await h.wallet.airdrop(stranger, 10**9)
    # the wrong memo's money did arrive in the store's wallet: the inbox, naming the payment
    inbox = await h.wait_row(
        "SELECT * FROM transfers WHERE unmatched_reason LIKE 'memo mismatch%'")
    assert inbox["payment_id"] is None
    assert inbox["status"] in ("confirmed", "finalized")
    assert memo["id"] in inbox["unmatched_reason"]
    assert inbox["memo"] == "ORD-8"
    assert inbox["amount"] == int(memo["amount_due"])
    # the unknown token reached an account nobody watches: rejected against the payment
    rows = await h.wait_transfers(wrong_mint["id"])
    assert [r["status"] for r in rows] == ["rejected"]
    assert rows[0]["reject_reason"].startswith("wrong mint")
    for payment in (memo, wrong_mint):
        assert (await h.payment(payment["id"]))["status"] == "pending"
        assert await h.transfers(payment["id"]) == ([] if payment is memo else rows)


async def test_paid_after_expiry_is_paid_late(h: Harness) -> None:
    await h.start_watcher()
    late = await h.create("30")
    # block times have one-second resolution: make the expiry unambiguously past
    await h.pool.execute("UPDATE payments SET created_at = now() - interval '20 minutes', "
                         "expires_at = now() - interval '5 minutes' WHERE id = $1",
                         (await h.payment(late["id"]))["id"])
    await h.wallet.pay(late["payment_request"]["url"])
    await h.wait_transfers(late["id"])
    row = await h.payment(late["id"])
    assert (row["status"], row["exception"]) == ("expired", "paid_late")
    types = [e["type"] for e in await h.pool.fetch(
        "SELECT type FROM events WHERE payment_id = $1 ORDER BY seq", row["id"])]
    # the same outcome as the expiry sweep's (closed, payment.expired), then paid_late
    assert types == ["payment.created", "payment.expired", "payment.paid_late"]
    assert row["closed_at"] is not None


async def test_two_references_paid_in_one_transaction(h: Harness) -> None:
    from solders.instruction import AccountMeta, Instruction
    from solders.pubkey import Pubkey
    from solders.system_program import TransferParams, transfer

    await h.start_watcher()
    a, b = await h.create("30"), await h.create("60")
    ixs = []
    for p in (a, b):
        ix = transfer(TransferParams(from_pubkey=h.wallet.pubkey, to_pubkey=h.merchant.pubkey(),
                                     lamports=int(p["amount_due"])))
        ref = Pubkey.from_string(p["payment_request"]["reference"])
        ixs.append(Instruction(ix.program_id, ix.data, [
            *ix.accounts, AccountMeta(ref, is_signer=False, is_writable=False)]))
    await h.wallet.send(ixs)
    for p in (a, b):
        row = await h.wait_for(p["id"], "confirmed")
        assert row["exception"] is None
        assert row["amount_received"] == int(p["amount_due"])


async def test_paid_while_the_watcher_is_down_is_found_by_backfill(h: Harness) -> None:
    await h.start_watcher()
    await h.stop_watcher()
    payments = [await h.create("30"), await h.create("5", "USDC")]
    for p in payments:
        await h.wallet.pay(p["payment_request"]["url"])
    await h.start_watcher()
    for p in payments:
        await h.wait_for(p["id"], "confirmed")
    # Each account's cursor moves once its backfill has processed what it found, which may be
    # a moment after the payment it found was confirmed.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while len(cursors := await h.pool.fetch("SELECT account FROM watch_cursors")) < 2:
        assert loop.time() < deadline, cursors
        await asyncio.sleep(0.05)
    assert len(cursors) == 2


async def test_websocket_closed_mid_stream_loses_nothing(h: Harness) -> None:
    await h.start_watcher()
    first, second = await h.create("30"), await h.create("31")
    await h.sim.control({"action": "close_websockets"})
    await h.wallet.pay(first["payment_request"]["url"])  # may land while reconnecting
    await h.sim.control({"action": "close_websockets"})
    await h.wallet.pay(second["payment_request"]["url"])
    for p in (first, second):
        await h.wait_for(p["id"], "confirmed")


async def test_a_dead_fork_transaction_is_never_confirmed(h: Harness) -> None:
    from solders.instruction import AccountMeta, Instruction
    from solders.message import MessageV0
    from solders.pubkey import Pubkey
    from solders.system_program import TransferParams, transfer
    from solders.transaction import VersionedTransaction

    await h.start_watcher()
    p = await h.create("30")
    ix = transfer(TransferParams(from_pubkey=h.wallet.pubkey, to_pubkey=h.merchant.pubkey(),
                                 lamports=int(p["amount_due"])))
    ref = Pubkey.from_string(p["payment_request"]["reference"])
    ix = Instruction(ix.program_id, ix.data, [*ix.accounts,
                                             AccountMeta(ref, is_signer=False, is_writable=False)])
    h.sim._clock.cancel()  # hold the slot so the transaction stays `processed`
    blockhash, _ = h.sim.ledger.latest_blockhash()
    record = h.sim.ledger.submit(VersionedTransaction(
        MessageV0.try_compile(h.wallet.pubkey, [ix], [], blockhash), [h.wallet.keypair]))
    assert h.sim.ledger.drop(record.signature)
    for _ in range(20):
        h.sim.ledger.advance()
    await h.watcher.track()
    row = await h.payment(p["id"])
    assert (row["status"], row["amount_received"]) == ("pending", 0)
    assert await h.transfers(p["id"]) == []


async def test_primary_rpc_failing_fails_over(h: Harness) -> None:
    async with SimnetServer(rpc_port=0, ws_port=0) as dead:
        dead.faults.fail_next(10_000, "http_429")  # a primary that only rate-limits
        await h.start_watcher(rpc_urls=[dead.rpc_url, h.sim.rpc_url])
        p = await h.create("30")
        await h.wallet.pay(p["payment_request"]["url"])
        await h.wait_for(p["id"], "confirmed")
        assert h.watcher.rpc.endpoints[0].failures > 0


@pytest.mark.slow
async def test_a_thousand_payments_paid_concurrently_confirm_exactly_once(h: Harness) -> None:
    import asyncio

    await h.start_watcher()
    payments = [await h.create("1") for _ in range(1000)]
    for start in range(0, len(payments), 100):
        await asyncio.gather(*(h.wallet.pay(p["payment_request"]["url"])
                               for p in payments[start:start + 100]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while loop.time() < deadline:
        left = await h.pool.fetchval("SELECT count(*) FROM payments WHERE status <> 'confirmed'")
        if left == 0:
            break
        await asyncio.sleep(0.2)
    assert left == 0
    sent = sum(int(p["amount_due"]) for p in payments)
    recorded = await h.pool.fetchval(
        "SELECT sum(amount) FROM transfers WHERE status <> 'rejected' AND payment_id IS NOT NULL")
    assert recorded == sent
    assert await h.pool.fetchval("SELECT count(*) FROM transfers") == 1000
    per_payment = await h.pool.fetch(
        "SELECT payment_id, count(*) AS n FROM events WHERE type = 'payment.confirmed' "
        "GROUP BY payment_id")
    assert len(per_payment) == 1000
    assert {r["n"] for r in per_payment} == {1}
    assert await h.pool.fetchval(
        "SELECT count(*) FROM payments WHERE amount_received <> amount_due") == 0


async def test_reconciliation_finds_money_sent_to_the_wrong_wallet(h: Harness) -> None:
    from solders.keypair import Keypair

    from paywatch.core.solanapay import build_transfer_url

    await h.start_watcher()
    soon = await h.create("30", expires_in=60)  # close to expiry: reconciled by reference
    stranger = Keypair().pubkey()
    await h.wallet.airdrop(stranger, 10**9)
    await h.wallet.pay(build_transfer_url(
        recipient=str(stranger), amount_base_units=int(soon["amount_due"]), decimals=9,
        spl_token=None, references=[soon["payment_request"]["reference"]]))
    rows = await h.wait_transfers(soon["id"])
    assert [r["status"] for r in rows] == ["rejected"]
    assert rows[0]["reject_reason"].startswith("wrong recipient")
    assert (await h.payment(soon["id"]))["status"] == "pending"


async def test_a_failed_transaction_is_recorded_and_does_not_pay(h: Harness) -> None:
    import base64

    from solders.instruction import AccountMeta, Instruction
    from solders.message import MessageV0
    from solders.pubkey import Pubkey
    from solders.system_program import TransferParams, transfer
    from solders.transaction import VersionedTransaction

    watcher = await h.start_watcher()
    p = await h.create("30")
    # This transaction goes out faster than a wallet's: wait (bounded) until the index knows
    # the payment, or it may match nothing (what test_late_index.py covers).
    await until(lambda: watcher.index.lookup(p["payment_request"]["reference"]) is not None,
                "the index entry")
    pay = transfer(TransferParams(from_pubkey=h.wallet.pubkey, to_pubkey=h.merchant.pubkey(),
                                  lamports=int(p["amount_due"])))
    too_much = transfer(TransferParams(from_pubkey=h.wallet.pubkey,
                                       to_pubkey=h.merchant.pubkey(), lamports=10**18))
    ref = AccountMeta(Pubkey.from_string(p["payment_request"]["reference"]), False, False)
    ixs = [Instruction(pay.program_id, pay.data, [*pay.accounts, ref]), too_much]
    blockhash, _ = h.sim.ledger.latest_blockhash()
    tx = VersionedTransaction(MessageV0.try_compile(h.wallet.pubkey, ixs, [], blockhash),
                              [h.wallet.keypair])
    async with aiohttp.ClientSession() as s, s.post(h.sim.rpc_url, json={
            "jsonrpc": "2.0", "id": 1, "method": "sendTransaction",
            "params": [base64.b64encode(bytes(tx)).decode(),
                       {"encoding": "base64", "skipPreflight": True}]}) as resp:
        assert "result" in await resp.json()
    rows = await h.wait_transfers(p["id"])
    assert rows[0]["reject_reason"].startswith("transaction failed")
    assert (await h.payment(p["id"]))["status"] == "pending"


async def test_payments_created_after_start_arrive_by_notify(h: Harness) -> None:
    await h.start_watcher(resync_s=3600)  # no resync during the test: only NOTIFY can help
    p = await h.create("30")
    await h.wallet.pay(p["payment_request"]["url"])
    await h.wait_for(p["id"], "confirmed")


async def test_the_tracker_reverts_a_transfer_whose_transaction_vanished(h: Harness) -> None:
    import uuid

    import base58

    await h.pool.execute("UPDATE stores SET commitment = 'finalized'")
    p = await h.create("30")
    payment_id = uuid.UUID(p["id"])
    ghost = base58.b58encode(bytes(range(64))).decode()
    async with h.pool.acquire() as conn, conn.transaction():
        from db import transfers
        from paywatch.services.payments import Change, resettle

        await transfers.insert_transfer(conn, {
            "chain": "solana", "tx_id": ghost, "index": 0, "payment_id": payment_id,
            "asset": "SOL", "recipient": str(h.merchant.pubkey()),
            "amount": int(p["amount_due"]), "status": "confirmed"})
        await resettle(conn, payment_id, Change("test", None))
    await h.pool.execute("UPDATE transfers SET seen_at = now() - interval '1 hour'")
    assert (await h.payment(p["id"]))["status"] == "detected"
    await h.start_watcher()
    await h.wait_for(p["id"], "pending")
    assert [r["status"] for r in await h.transfers(p["id"])] == ["reverted"]
    types = [e["type"] for e in await h.pool.fetch(
        "SELECT type FROM events WHERE payment_id = $1 ORDER BY seq", payment_id)]
    assert types == ["payment.created", "payment.detected", "payment.reverted"]


async def fee_mint(h: Harness, basis_points: int) -> str:
    """A Token-2022 mint with a transfer fee, funded to the test wallet."""
    from solders.keypair import Keypair
    from solders.system_program import CreateAccountParams, create_account
    from spl.token.constants import TOKEN_2022_PROGRAM_ID
    from spl.token.instructions import initialize_mint2, initialize_transfer_fee_config
    from spl.token.models import InitializeMint2Params, InitializeTransferFeeConfigParams

    mint = Keypair()
    space = 165 + 1 + 4 + 108  # mint, padding, account type, TransferFeeConfig TLV entry
    rent = (await h.wallet.client.get_minimum_balance_for_rent_exemption(space)).value
    await h.wallet.send([
        create_account(CreateAccountParams(from_pubkey=h.wallet.pubkey,
                                           to_pubkey=mint.pubkey(), lamports=rent,
                                           space=space, owner=TOKEN_2022_PROGRAM_ID)),
        initialize_transfer_fee_config(InitializeTransferFeeConfigParams(
            program_id=TOKEN_2022_PROGRAM_ID, mint=mint.pubkey(),
            transfer_fee_config_authority=h.wallet.pubkey,
            withdraw_withheld_authority=h.wallet.pubkey,
            transfer_fee_basis_points=basis_points, maximum_fee=10**12)),
        initialize_mint2(InitializeMint2Params(decimals=6, program_id=TOKEN_2022_PROGRAM_ID,
                                               mint=mint.pubkey(),
                                               mint_authority=h.wallet.pubkey)),
    ], [mint])
    await h.wallet.mint_to(mint.pubkey(), h.wallet.pubkey, 10**12, TOKEN_2022_PROGRAM_ID)
    return str(mint.pubkey())


async def test_token_2022_with_a_transfer_fee_counts_what_arrived(h: Harness) -> None:
    from db import stores

    mint = await fee_mint(h, 100)  # a 1 % fee, taken from what the recipient receives
    async with h.pool.acquire() as conn:
        store_id = await conn.fetchval("SELECT id FROM stores WHERE slug = 'chainshop'")
        await stores.upsert_store_asset(conn, store_id, "solana", "USDC", mint, 6)
    await h.start_watcher()
    p = await h.create("10", "USDC")
    assert p["mint"] == mint
    await h.wallet.pay(p["payment_request"]["url"])  # sends exactly 10.000000
    row = await h.wait_for(p["id"], "detected")
    assert (row["exception"], row["amount_received"]) == ("underpaid", 9_900_000)
    [transfer] = await h.transfers(p["id"])
    assert transfer["amount"] == 9_900_000  # what arrived, not what was sent


async def test_a_node_on_another_cluster_is_not_watched(
        h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """PAYWATCH_SOLANA_GENESIS_HASH set (here: devnet's) and the node on another cluster
    (simnet's): the watcher watches nothing and says so at ERROR, again each retry, naming the
    endpoint masked and what it found. On the configured cluster it watches as usual."""
    simnet_genesis = str((await h.wallet.client.get_genesis_hash()).value)
    devnet = next(g for g, name in CLUSTERS.items() if name == "devnet")

    def refusals() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "on another cluster" in r.getMessage()]

    async with aiohttp.ClientSession() as session:
        watcher = SolanaWatcher(h.pool, session, WatcherConfig(
            [h.sim.rpc_url], [h.sim.ws_url], genesis_hash=devnet, cluster_retry_s=0.05))
        with caplog.at_level(logging.ERROR, logger="paywatch.watcher.solana"):
            task = asyncio.create_task(watcher.run())
            try:
                await until(lambda: len(refusals()) >= 2, "two refusals")
                assert not task.done()
                assert not watcher.stream.connected.is_set()  # subscribed to nothing
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    refusal = refusals()[0]
    assert refusal.levelno == logging.ERROR
    assert refusal.expected_genesis_hash == devnet  # type: ignore[attr-defined]
    assert refusal.found == {mask_url(h.sim.rpc_url): simnet_genesis}  # type: ignore[attr-defined]

    await h.start_watcher(genesis_hash=simnet_genesis)
    payment = await h.create("30")
    await h.wallet.pay(payment["payment_request"]["url"])
    await h.wait_for(payment["id"], "confirmed")
