"""Shared fixtures: real PostgreSQL databases, a pool, a running API, subprocess helpers."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair

from api.app import build_app
from db.pool import create_pool
from paywatch.chains import build_chains
from paywatch.core.settings import Settings
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.pg import Clones, DatabaseFactory, server_dsn

ROOT = Path(__file__).resolve().parent.parent
PAYWATCH = str(Path(sys.executable).with_name("paywatch"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests (marked slow) first, the rest in their usual order. Under pytest-xdist
    (scripts/test) a long test that started last would keep one worker busy long after the
    other ran out of work. Nothing else follows from the order: each test has its own database
    and servers."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def databases() -> Iterator[DatabaseFactory]:
    with server_dsn() as dsn:
        yield DatabaseFactory(dsn)


@pytest.fixture(scope="session")
def template_db(databases: DatabaseFactory) -> Iterator[str]:
    name = databases.create(prefix="pwtpl")
    databases.migrate(name)
    yield name
    databases.drop(name)


@pytest.fixture(scope="session")
def clones(databases: DatabaseFactory, template_db: str) -> Iterator[Clones]:
    made = Clones(databases, template_db)
    yield made
    made.close()


@pytest.fixture
def db_dsn(databases: DatabaseFactory, clones: Clones) -> Iterator[str]:
    """A fresh, fully migrated database for one test (a clone of the template, made ahead)."""
    name = clones.take()
    yield databases.dsn(name)
    clones.give_back(name)  # dropped on the clones' thread


@pytest.fixture
def empty_db_dsn(databases: DatabaseFactory) -> Iterator[str]:
    """A fresh database with nothing in it (for migration tests)."""
    name = databases.create()
    yield databases.dsn(name)
    databases.drop(name)


@pytest.fixture
async def pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(db_dsn, min_size=1, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture
def settings(db_dsn: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_dsn, data_dir=tmp_path, _env_file=None)


@pytest.fixture
async def api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(build_app(settings, pool, chains=build_chains(settings))))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
def pg_home() -> Iterator[Path]:
    """A directory for an embedded PostgreSQL of the test's own. Not under pytest's tmp_path:
    pgserver runs the server as its own system user, which must traverse every parent, and
    pytest resets its base directory to 0700 whenever another session starts beside this one."""
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="pwtest-home-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


async def until(check: Callable[[], object], what: str, seconds: float = 20) -> None:
    """Wait (bounded) until `check()` is true; fail saying what was awaited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a `paywatch` subprocess: no PAYWATCH_* leaking in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYWATCH_")}
    env.update(extra)
    return env


RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


async def make_store(pool: asyncpg.Pool, slug: str, scopes: list[str] | None = None,
                     recipient: str = RECIPIENT) -> tuple[dict[str, str], asyncpg.Record]:
    """A store accepting SOL and USDC on Solana, and auth headers for a key of it."""
    from paywatch.core.apikeys import DEFAULT_SCOPES
    from paywatch.services.keys import create_key
    from paywatch.services.stores import create_store

    async with pool.acquire() as conn:
        store = await create_store(conn, slug, slug.title(), recipient,
                                   [("USDC", USDC_MINT, 6)], "test")
        key, _row = await create_key(conn, store["id"], "test", scopes or list(DEFAULT_SCOPES),
                                     "test")
    return {"Authorization": f"Bearer {key}"}, store


@pytest.fixture
async def merchant(pool: asyncpg.Pool) -> dict[str, str]:
    """Auth headers for a key of store `shop` (all store scopes)."""
    headers, _store = await make_store(pool, "shop")
    return headers


@pytest.fixture
async def other_merchant(pool: asyncpg.Pool) -> dict[str, str]:
    headers, _store = await make_store(pool, "other-shop")
    return headers


@asynccontextmanager
async def api_client(pool: asyncpg.Pool, **overrides: object) -> AsyncIterator[TestClient]:
    """A client for an app built with non-default settings (prices, limits, CFV)."""
    settings = Settings(database_url="postgresql://unused", _env_file=None, **overrides)
    client = TestClient(TestServer(build_app(settings, pool, chains=build_chains(settings))))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


# ----- a local Solana chain (simnet) with fast slots, a client and a funded wallet -----

SIM_FINALIZE_DEPTH = 8


@pytest.fixture
async def sim() -> AsyncIterator[SimnetServer]:
    async with SimnetServer(rpc_port=0, ws_port=0, slot_ms=20,
                            finalize_depth=SIM_FINALIZE_DEPTH) as server:
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


@contextmanager
def simnet_process(cwd: Path) -> Iterator[tuple[str, str]]:
    """`paywatch simnet` as its own process on free ports, answering; yields (rpc, ws) URLs."""
    import json as _json
    import subprocess
    import time
    import urllib.request

    rpc_port, ws_port = free_port(), free_port()
    rpc_url, ws_url = f"http://127.0.0.1:{rpc_port}", f"ws://127.0.0.1:{ws_port}"
    # Output to a file in the test's directory (kept with the test's other files), never to an
    # unread pipe: a full pipe would stall the chain.
    with (cwd / "simnet.log").open("ab") as log:
        chain = subprocess.Popen([PAYWATCH, "simnet", "--rpc-port", str(rpc_port), "--ws-port",
                                  str(ws_port), "--slot-ms", "50"], env=clean_env(), cwd=cwd,
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        body = _json.dumps({"jsonrpc": "2.0", "id": 1, "method": "getHealth"}).encode()
        while True:
            request = urllib.request.Request(rpc_url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=2) as resp:  # noqa: S310
                    if _json.loads(resp.read()).get("result") == "ok":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, (
                "simnet did not start: " + (cwd / "simnet.log").read_text(errors="replace"))
            time.sleep(0.1)
        yield rpc_url, ws_url
    finally:
        chain.send_signal(15)
        chain.wait(timeout=30)
