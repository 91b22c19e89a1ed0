"""Test databases on a real PostgreSQL server.

The server is `PAYWATCH_TEST_DATABASE_URL` when set, else an embedded pgserver in a temporary
directory. Each test session migrates one template database; each test that wants a database
gets a fresh clone of it (`CREATE DATABASE ... TEMPLATE`), so tests are isolated and cheap."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import asyncpg

from db.embedded import with_database
from db.migrator import Migrator
from db.pool import connect


@contextmanager
def server_dsn() -> Iterator[str]:
    url = os.environ.get("PAYWATCH_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(tempfile.mkdtemp(prefix="pwtest-"), cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


class DatabaseFactory:
    """Creates and drops uniquely named databases on one server."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn

    def create(self, template: str | None = None, prefix: str = "pwtest") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        asyncio.run(self._execute(_create_sql(name, template)))
        return name

    def drop(self, name: str) -> None:
        asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def dsn(self, name: str) -> str:
        return with_database(self.admin_dsn, name)

    def migrate(self, name: str) -> None:
        async def go() -> None:
            conn = await connect(self.dsn(name))
            try:
                await Migrator(conn, progress=lambda _line: None).up()
            finally:
                await conn.close()

        asyncio.run(go())

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


def _create_sql(name: str, template: str | None) -> str:
    # Names are generated above from hex; CREATE DATABASE takes no bind parameters.
    if template:
        return f'CREATE DATABASE "{name}" TEMPLATE "{template}"'
    return f'CREATE DATABASE "{name}"'
