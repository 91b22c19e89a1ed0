"""EVM tests: a fresh anvil per test with two ERC-20s deployed, a store matching by deposit
address (and one by shared address), the API configured with the chain, and an EVM watcher."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Coins

from api.app import build_app
from db import evm as db_evm
from db import stores
from paywatch.chains import build_chains
from paywatch.core.evm import EvmChain, EvmToken
from paywatch.core.settings import Settings
from tests.conftest import make_store
from tests.evm.anvil import CHAIN_ID, Anvil, anvil_process
from watcher.evm.service import EvmWatcher

# The BIP39 test mnemonic: its addresses hold nothing on anvil, so every balance is ours.
MNEMONIC = "abandon " * 11 + "about"
XPUB = (Bip44.FromSeed(Bip39SeedGenerator(MNEMONIC).Generate(), Bip44Coins.ETHEREUM)
        .Purpose().Coin().Account(0).PublicKey().ToExtended())
PRICES = {"SOL": "150", "USDC": "1", "ETH": "2500", "USDT": "1", "DAI": "1"}
DEPTH = 3


class EvmHarness:
    def __init__(self, anvil: Anvil, pool: asyncpg.Pool, chain: EvmChain, api: TestClient,
                 headers: dict[str, str], store_id: Any) -> None:
        self.anvil, self.pool, self.chain, self.api = anvil, pool, chain, api
        self.headers, self.store_id = headers, store_id
        self.usdt, self.dai = chain.tokens[0].contract, chain.tokens[1].contract
        self.task: asyncio.Task[None] | None = None
        self.session: aiohttp.ClientSession | None = None
        self.watcher: EvmWatcher | None = None

    async def start_watcher(self, chain: EvmChain | None = None) -> EvmWatcher:
        self.session = aiohttp.ClientSession()
        self.watcher = EvmWatcher(self.pool, self.session, chain or self.chain)
        self.task = asyncio.create_task(self.watcher.run())
        await self.wait_until(self._watcher_caught_up, "the watcher to reach the head")
        return self.watcher

    async def _watcher_caught_up(self) -> bool:
        tip = await self.pool.fetchval("SELECT max(number) FROM evm_blocks WHERE chain = $1",
                                       self.chain.name)
        return tip is not None and tip >= await self.anvil.head()

    async def stop_watcher(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.session is not None:
            await self.session.close()
        self.task = self.session = None

    async def create(self, amount: str = "25", asset: str = "USDT", **extra: Any) -> dict:
        resp = await self.api.post("/v1/payments", headers=self.headers, json={
            "amount": amount, "currency": "USD", "asset": asset, "chain": "anvil", **extra})
        assert resp.status == 201, await resp.text()
        return dict(await resp.json())

    async def payment(self, payment_id: str) -> asyncpg.Record:
        return await self.pool.fetchrow("SELECT * FROM payments WHERE id = $1",
                                        uuid.UUID(payment_id))

    async def transfers(self, payment_id: str) -> list[asyncpg.Record]:
        return await self.pool.fetch("SELECT * FROM transfers WHERE payment_id = $1 ORDER BY id",
                                     uuid.UUID(payment_id))

    async def wait_for(self, payment_id: str, status: str, seconds: float = 20) -> asyncpg.Record:
        async def reached() -> bool:
            return (await self.payment(payment_id))["status"] == status

        with contextlib.suppress(AssertionError):
            await self.wait_until(reached, f"payment {status}", seconds)
        row = await self.payment(payment_id)
        assert row["status"] == status, (row["status"], row["exception"])
        return row

    async def wait_until(self, check: Any, what: str, seconds: float = 20) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not await check():
            assert loop.time() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)

    async def pay(self, payment: dict, amount: int | None = None, token: str | None = None,
                  sender: int = 1) -> str:
        """Pay what the payment request says (or another amount or token), mined in a block."""
        request = payment["payment_request"]
        amount = int(request["amount"]) if amount is None else amount
        contract = token or request["asset_contract"]
        if contract is None:
            tx = await self.anvil.pay_eth(request["recipient"], amount, sender)
        else:
            tx = await self.anvil.pay_token(contract, request["recipient"], amount, sender)
        receipt = await self.anvil.receipt(tx)
        assert receipt["status"] == "0x1", receipt
        return tx


def chain_config(url: str, ws_url: str, usdt: str, dai: str, **extra: Any) -> EvmChain:
    return EvmChain(name="anvil", chain_id=CHAIN_ID, rpc_urls=[url], ws_urls=[ws_url],
                    confirmations=DEPTH, poll_seconds=0.2, backfill_chunk=50,
                    tokens=[EvmToken(symbol="USDT", contract=usdt, decimals=6),
                            EvmToken(symbol="DAI", contract=dai, decimals=18)], **extra)


@pytest.fixture
async def anvil() -> AsyncIterator[Anvil]:
    with anvil_process() as (url, ws_url):
        async with aiohttp.ClientSession() as session:
            yield await Anvil(url, ws_url, session).start()


@pytest.fixture
async def tokens(anvil: Anvil) -> tuple[str, str]:
    usdt = await anvil.deploy_token("Tether USD", "USDT", 6, 10**15)
    dai = await anvil.deploy_token("Dai", "DAI", 18, 10**27)
    return usdt, dai


@pytest.fixture
def chain(anvil: Anvil, tokens: tuple[str, str]) -> EvmChain:
    return chain_config(anvil.url, anvil.ws_url, *tokens)


@pytest.fixture
def evm_settings(db_dsn: str, tmp_path: Path, chain: EvmChain) -> Settings:
    return Settings(database_url=db_dsn, data_dir=tmp_path, api_rate_limit_per_minute=10**9,
                    evm_chains=[chain], static_prices=PRICES, _env_file=None)


@pytest.fixture
async def evm_api(evm_settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[TestClient]:
    app = build_app(evm_settings, pool, chains=build_chains(evm_settings))
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
async def evm(anvil: Anvil, pool: asyncpg.Pool, chain: EvmChain,
              evm_api: TestClient) -> AsyncIterator[EvmHarness]:
    headers, store_id = await make_evm_store(pool, chain, "evm-shop")
    harness = EvmHarness(anvil, pool, chain, evm_api, headers, store_id)
    yield harness
    await harness.stop_watcher()


async def make_evm_store(pool: asyncpg.Pool, chain: EvmChain, slug: str,
                         mode: str = "deposit_address",
                         address: str | None = None) -> tuple[dict[str, str], Any]:
    """A store accepting ETH, USDT and DAI on anvil, matching by `mode`."""
    headers, store = await make_store(pool, slug)
    async with pool.acquire() as conn:
        await db_evm.upsert_store_chain(conn, store["id"], chain.name, mode,
                                        XPUB if mode == "deposit_address" else None, address)
        for symbol in chain.symbols():
            contract, decimals = chain.asset(symbol) or (None, 18)
            await stores.upsert_store_asset(conn, store["id"], chain.name, symbol, contract,
                                            decimals)
    return headers, store["id"]
