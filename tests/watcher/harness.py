"""A store on simnet, the API, and a running Solana watcher, for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient
from solders.keypair import Keypair

from db import stores
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import until  # noqa: F401 - the watcher tests' bounded wait
from watcher.solana.service import SolanaWatcher, WatcherConfig


class Harness:
    def __init__(self, sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
                 headers: dict[str, str], wallet: Wallet, merchant: Keypair,
                 mint: str) -> None:
        self.sim, self.pool, self.api, self.headers = sim, pool, api, headers
        self.wallet, self.merchant, self.mint = wallet, merchant, mint
        self.task: asyncio.Task[None] | None = None
        self.watcher: SolanaWatcher | None = None
        self.session: aiohttp.ClientSession | None = None

    async def start_watcher(self, rpc_urls: list[str] | None = None,
                            resync_s: float = 1.0, **config_overrides: Any) -> SolanaWatcher:
        self.session = aiohttp.ClientSession()
        config = WatcherConfig(rpc_urls or [self.sim.rpc_url], [self.sim.ws_url],
                               **{"tracker_interval_s": 0.1, "resync_s": resync_s,
                                  "revert_after_s": 2.0, "idle_s": 5.0, **config_overrides})
        self.watcher = SolanaWatcher(self.pool, self.session, config)
        self.task = asyncio.create_task(self.watcher.run())
        await asyncio.wait_for(self.watcher.stream.connected.wait(), 10)
        return self.watcher

    async def stop_watcher(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.session is not None:
            await self.session.close()
        self.task = self.session = None

    async def create(self, amount: str = "30", asset: str = "SOL", **extra: Any) -> dict:
        resp = await self.api.post("/v1/payments", headers=self.headers, json={
            "amount": amount, "currency": "USD", "asset": asset, **extra})
        assert resp.status == 201, await resp.text()
        return await resp.json()

    async def payment(self, payment_id: str) -> asyncpg.Record:
        return await self.pool.fetchrow("SELECT * FROM payments WHERE id = $1",
                                        uuid.UUID(payment_id))

    async def wait_for(self, payment_id: str, status: str, seconds: float = 20) -> asyncpg.Record:
        """Wait (bounded) until the payment reaches `status`; fail with what it is instead."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            row = await self.payment(payment_id)
            if row["status"] == status or loop.time() > deadline:
                assert row["status"] == status, (row["status"], row["exception"])
                return row
            await asyncio.sleep(0.05)

    async def wait_transfers(self, payment_id: str, seconds: float = 20) -> list:
        """Wait (bounded) until the payment has transfer rows, and return them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            rows = await self.transfers(payment_id)
            if rows or loop.time() > deadline:
                return rows
            await asyncio.sleep(0.05)

    async def wait_row(self, query: str, *args: Any, seconds: float = 20) -> asyncpg.Record:
        """Wait (bounded) until `query` finds a row, and return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            row = await self.pool.fetchrow(query, *args)
            if row is not None:
                return row
            assert loop.time() < deadline, f"timed out waiting for a row of {query}"
            await asyncio.sleep(0.05)

    async def transfers(self, payment_id: str) -> list[asyncpg.Record]:
        return await self.pool.fetch("SELECT * FROM transfers WHERE payment_id = $1 "
                                     "ORDER BY id", uuid.UUID(payment_id))


@contextlib.asynccontextmanager
async def harness(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
                  headers_and_store: tuple[dict[str, str], Any],
                  wallet: Wallet) -> AsyncIterator[Harness]:
    headers, store = headers_and_store
    merchant = Keypair()
    await wallet.airdrop(merchant.pubkey(), 10**9)  # the wallet exists, as real ones do
    mint = await wallet.create_mint(6, 10**13)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE stores SET solana_recipient = $2 WHERE id = $1",
                           store["id"], str(merchant.pubkey()))
        await stores.upsert_store_asset(conn, store["id"], "solana", "USDC", str(mint), 6)
    h = Harness(sim, pool, api, headers, wallet, merchant, str(mint))
    try:
        yield h
    finally:
        await h.stop_watcher()
