"""Every payer gets matched: a mixed run of the five ways money reaches paywatch, and the share of
each that matched its payment by itself, plus stray transfers that must land in the inbox.

    .venv/bin/python bench/payer_mix.py [--each 20] [--strays 5]

One database, simnet in process (slot 50 ms), anvil with the Forwarder contract, the API with a
public URL (Transaction Requests), the Solana watcher and the EVM watcher (tracing on). For each
kind, `--each` payments are created through the API and paid the way that kind's customer pays:
- reference: the simnet wallet pays the Solana Pay URL (the reference rides on the transfer);
- transaction_request: a fresh funded keypair POSTs its account to the Transaction Request
  link, signs the transaction it gets back and sends it;
- unique_amount: a plain SOL transfer of exactly the amount, no reference (an exchange);
- cpi: tokens the customer sent to the merchant's nested token account, moved into the
  merchant's token account by the ATA program's RecoverNested (a transferChecked by CPI);
- evm_internal: ETH sent to the payment's deposit address by a contract (the Forwarder).
Then `--strays` SOL transfers of amounts nobody asked for. Prints, per kind, how many payments
confirmed, how their transfers were matched (matched_by, via_program), and the share; and how
many strays reached the inbox. Uses PAYWATCH_DATABASE_URL's server when set, else embedded."""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient, TestServer
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import TransferCheckedParams

# Run as a script (`.venv/bin/python bench/X.py`): the project root is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import build_app
from bench.common import admin_server, database
from db import stores
from db.pool import create_pool
from paywatch.chains import build_chains
from paywatch.core.settings import Settings
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import free_port, make_store
from tests.evm.anvil import Anvil, anvil_process
from tests.evm.conftest import DEPTH, PRICES, chain_config, make_evm_store
from tests.watcher.test_cpi_simnet import recover_nested
from watcher.evm.service import EvmWatcher
from watcher.solana.service import SolanaWatcher, WatcherConfig

KINDS = ("reference", "transaction_request", "unique_amount", "cpi", "evm_internal")


class Run:
    """The parts of one run and the payments made for each kind."""

    def __init__(self, api: TestClient, pool: asyncpg.Pool, wallet: Wallet, merchant: Keypair,
                 mint: Pubkey, anvil: Anvil, forwarder: str, sol_headers: dict[str, str],
                 evm_headers: dict[str, str]) -> None:
        self.api, self.pool, self.wallet, self.merchant = api, pool, wallet, merchant
        self.mint, self.anvil, self.forwarder = mint, anvil, forwarder
        self.sol_headers, self.evm_headers = sol_headers, evm_headers
        self.made: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}

    async def create(self, kind: str, asset: str) -> dict[str, Any]:
        evm = kind == "evm_internal"
        resp = await self.api.post("/v1/payments", headers=(
            self.evm_headers if evm else self.sol_headers), json={
            "amount": "2", "currency": "USD", "asset": asset,
            "chain": "anvil" if evm else "solana"})
        assert resp.status == 201, await resp.text()
        payment = await resp.json()
        self.made[kind].append(payment)
        return payment

    async def pay_reference(self) -> None:
        payment = await self.create("reference", "SOL")
        await self.wallet.pay(payment["payment_request"]["url"])

    async def pay_transaction_request(self) -> None:
        payment = await self.create("transaction_request", "SOL")
        payer = Keypair()
        await self.wallet.airdrop(payer.pubkey(), 10**9)
        link = payment["payment_request"]["transaction_request_url"].removeprefix("solana:")
        resp = await self.api.post(urlsplit(link).path, json={"account": str(payer.pubkey())})
        assert resp.status == 200, await resp.text()
        tx = Transaction.from_bytes(base64.b64decode((await resp.json())["transaction"]))
        tx.sign([payer], tx.message.recent_blockhash)
        sent = await self.wallet.client.send_raw_transaction(bytes(tx))
        await self.wallet.confirm(str(sent.value))

    async def pay_unique_amount(self) -> None:
        payment = await self.create("unique_amount", "SOL")
        await self.wallet.send([transfer(TransferParams(
            from_pubkey=self.wallet.pubkey, to_pubkey=self.merchant.pubkey(),
            lamports=int(payment["payment_request"]["amount"])))])

    async def pay_cpi(self) -> None:
        payment = await self.create("cpi", "USDC")
        merchant, mint = self.merchant.pubkey(), self.mint
        owner_ata = get_associated_token_address(merchant, mint, TOKEN_PROGRAM_ID)
        await self.wallet.send([
            create_idempotent_associated_token_account(self.wallet.pubkey, owner_ata, mint,
                                                       TOKEN_PROGRAM_ID),
            transfer_checked(TransferCheckedParams(
                program_id=TOKEN_PROGRAM_ID, mint=mint,
                amount=int(payment["payment_request"]["amount"]), decimals=6,
                source=get_associated_token_address(self.wallet.pubkey, mint,
                                                    TOKEN_PROGRAM_ID),
                dest=get_associated_token_address(owner_ata, mint, TOKEN_PROGRAM_ID),
                owner=self.wallet.pubkey))])
        await self.wallet.send([recover_nested(merchant, mint)], [self.merchant])

    async def pay_evm_internal(self) -> None:
        payment = await self.create("evm_internal", "ETH")
        request = payment["payment_request"]
        await self.anvil.receipt(await self.anvil.forward(self.forwarder, request["recipient"],
                                                          int(request["amount"])))


async def outcome(pool: asyncpg.Pool, payments: list[dict[str, Any]]) -> tuple[int, Counter]:
    ids = [uuid.UUID(p["id"]) for p in payments]
    confirmed = await pool.fetchval(
        "SELECT count(*) FROM payments WHERE id = ANY($1::uuid[]) AND status = 'confirmed'", ids)
    rows = await pool.fetch("SELECT matched_by, via_program FROM transfers "
                            "WHERE payment_id = ANY($1::uuid[])", ids)
    return confirmed, Counter((r["matched_by"], r["via_program"]) for r in rows)


async def settle(run: Run, total: int, strays: int, bound_s: float) -> None:
    """Wait (bounded) until every payment confirmed and every stray reached the inbox."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        await run.anvil.mine(DEPTH)
        done = await run.pool.fetchval("SELECT count(*) FROM payments WHERE status = "
                                       "'confirmed'")
        inbox = await run.pool.fetchval("SELECT count(*) FROM transfers WHERE chain = "
                                        "'solana' AND unmatched_reason IS NOT NULL")
        if done >= total and inbox >= strays:
            return
        await asyncio.sleep(0.5)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--each", type=int, default=20)
    parser.add_argument("--strays", type=int, default=5)
    args = parser.parse_args()
    async with admin_server() as admin:
        dsn = await database(admin)
        pool = await create_pool(dsn, max_size=10)
        try:
            await mixed_run(pool, dsn, args)
        finally:
            await pool.close()


async def mixed_run(pool: asyncpg.Pool, dsn: str, args: argparse.Namespace) -> None:
    with anvil_process() as (url, ws_url):
        async with SimnetServer(rpc_port=0, ws_port=0, slot_ms=50) as sim, \
                aiohttp.ClientSession() as session, \
                AsyncClient(sim.rpc_url, commitment="confirmed") as client:
            anvil = await Anvil(url, ws_url, session).start()
            usdt = await anvil.deploy_token("Tether USD", "USDT", 6, 10**15)
            dai = await anvil.deploy_token("Dai", "DAI", 18, 10**27)
            chain = chain_config(url, ws_url, usdt, dai, trace_internal=True)
            port = free_port()
            settings = Settings(
                database_url=dsn, api_rate_limit_per_minute=10**9, evm_chains=[chain],
                static_prices=PRICES, solana_rpc_urls=[sim.rpc_url],
                solana_ws_urls=[sim.ws_url], public_url=f"http://127.0.0.1:{port}",
                _env_file=None)
            api = TestClient(TestServer(build_app(settings, pool, chains=build_chains(settings),
                                                  session=session), port=port))
            await api.start_server()
            try:
                run = await prepare(api, pool, client, anvil, chain)
                await pay_everything(run, sim, session, chain, args)
            finally:
                await api.close()


async def prepare(api: TestClient, pool: asyncpg.Pool, client: AsyncClient, anvil: Anvil,
                  chain: Any) -> Run:
    wallet = Wallet(Keypair(), client)
    await wallet.airdrop(wallet.pubkey, 1000 * 10**9)
    merchant = Keypair()
    await wallet.airdrop(merchant.pubkey(), 10**9)
    mint = await wallet.create_mint(6, 10**13)
    sol_headers, store = await make_store(pool, f"mix-{uuid.uuid4().hex[:6]}")
    async with pool.acquire() as conn:
        await conn.execute("UPDATE stores SET solana_recipient = $2, solana_unique_amount = true"
                           " WHERE id = $1", store["id"], str(merchant.pubkey()))
        await stores.upsert_store_asset(conn, store["id"], "solana", "USDC", str(mint), 6)
    await wallet.send([create_idempotent_associated_token_account(
        wallet.pubkey, merchant.pubkey(), mint, TOKEN_PROGRAM_ID)])
    evm_headers, _ = await make_evm_store(pool, chain, f"mix-evm-{uuid.uuid4().hex[:6]}")
    return Run(api, pool, wallet, merchant, mint, anvil, await anvil.deploy_forwarder(),
               sol_headers, evm_headers)


async def pay_everything(run: Run, sim: SimnetServer, session: aiohttp.ClientSession,
                         chain: Any, args: argparse.Namespace) -> None:
    solana = SolanaWatcher(run.pool, session, WatcherConfig([sim.rpc_url], [sim.ws_url],
                                                            tracker_interval_s=0.2))
    evm = EvmWatcher(run.pool, session, chain)
    tasks = [asyncio.create_task(solana.run()), asyncio.create_task(evm.run())]
    try:
        await asyncio.wait_for(solana.stream.connected.wait(), 30)
        elapsed = await pay_and_settle(run, args)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await report(run, args, elapsed)


async def pay_and_settle(run: Run, args: argparse.Namespace) -> float:
    started = time.monotonic()
    pay = {"reference": run.pay_reference, "transaction_request": run.pay_transaction_request,
           "unique_amount": run.pay_unique_amount, "cpi": run.pay_cpi,
           "evm_internal": run.pay_evm_internal}
    for n in range(args.each):  # interleaved, as real customers are
        for kind in KINDS:
            await pay[kind]()
        print(f"  paid {(n + 1) * len(KINDS)}/{args.each * len(KINDS)}", end="\r", flush=True)
    for n in range(args.strays):
        await run.wallet.send([transfer(TransferParams(
            from_pubkey=run.wallet.pubkey, to_pubkey=run.merchant.pubkey(),
            lamports=123_456_789 + n))])
    print()
    await settle(run, args.each * len(KINDS), args.strays, bound_s=120)
    return time.monotonic() - started


async def report(run: Run, args: argparse.Namespace, elapsed: float) -> None:
    print(f"\n{'kind':<20} {'paid':>5} {'confirmed':>9} {'share':>7}   matched as "
          "(matched_by, via_program) x transfers")
    for kind in KINDS:
        confirmed, how = await outcome(run.pool, run.made[kind])
        share = confirmed / len(run.made[kind])
        seen = ", ".join(f"{m}/{'program' if v else 'top'} x{c}" for (m, v), c in how.items())
        print(f"{kind:<20} {len(run.made[kind]):>5} {confirmed:>9} {share:>7.0%}   {seen}")
    inbox = await run.pool.fetch("SELECT unmatched_reason FROM transfers WHERE "
                                 "unmatched_reason IS NOT NULL")
    reasons = Counter(r["unmatched_reason"] for r in inbox)
    print(f"\nstrays sent: {args.strays}; in the inbox: {len(inbox)} "
          f"({'; '.join(f'{r} x{c}' for r, c in reasons.items())})")
    print(f"all of it in {elapsed:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
