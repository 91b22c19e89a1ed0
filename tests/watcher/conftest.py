"""simnet fixtures: an in-process chain with fast slots, a client, a funded wallet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair

from paywatch.settings import Settings
from simnet.server import SimnetServer
from simnet.wallet import Wallet

FINALIZE_DEPTH = 8


@pytest.fixture
async def sim() -> AsyncIterator[SimnetServer]:
    async with SimnetServer(rpc_port=0, ws_port=0, slot_ms=20,
                            finalize_depth=FINALIZE_DEPTH) as server:
        yield server


@pytest.fixture
async def client(sim: SimnetServer) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(sim.rpc_url, commitment=Confirmed, timeout=10) as c:
        yield c


@pytest.fixture
async def wallet(client: AsyncClient) -> Wallet:
    w = Wallet(Keypair(), client)
    await w.airdrop(w.pubkey, 100 * 10**9)
    return w


@pytest.fixture
def settings(db_dsn: str, tmp_path: Path) -> Settings:
    """The API for these tests creates payments in bursts: no per-key rate limit."""
    return Settings(database_url=db_dsn, data_dir=tmp_path, api_rate_limit_per_minute=10**9,
                    _env_file=None)
