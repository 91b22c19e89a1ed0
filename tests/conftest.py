"""Shared fixtures: real PostgreSQL databases, a pool, a running API, subprocess helpers."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import build_app
from db.pool import create_pool
from paywatch.settings import Settings
from tests.pg import DatabaseFactory, server_dsn

ROOT = Path(__file__).resolve().parent.parent
PAYWATCH = str(Path(sys.executable).with_name("paywatch"))


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


@pytest.fixture
def db_dsn(databases: DatabaseFactory, template_db: str) -> Iterator[str]:
    """A fresh, fully migrated database for one test."""
    name = databases.create(template=template_db)
    yield databases.dsn(name)
    databases.drop(name)


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
    client = TestClient(TestServer(build_app(settings, pool)))
    await client.start_server()
    yield client
    await client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a `paywatch` subprocess: no PAYWATCH_* leaking in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYWATCH_")}
    env.update(extra)
    return env
