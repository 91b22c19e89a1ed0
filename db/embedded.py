"""Embedded PostgreSQL (PyPI `pgserver`) for a machine with no database configured.

The data lives in `<data_dir>/postgres` and survives restarts. pgserver reference-counts the
processes using one data dir, so `paywatch run` and a `paywatch migrate` beside it share one
server, and the last one to leave stops it cleanly."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DATABASE_NAME = "paywatch"


class EmbeddedPostgres:
    # pgserver counts users per process, not per handle: two handles in one process share one
    # server, and closing either stopped it under the other. Count handles here instead.
    _users: ClassVar[dict[Path, int]] = {}

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._server: object | None = None

    async def start(self) -> str:
        """Start (or join) the server; return a DSN for the `paywatch` database."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = await asyncio.to_thread(_start_server, self.pgdata)
        self._users[self.pgdata] = self._users.get(self.pgdata, 0) + 1
        admin_dsn: str = self._server.get_uri()  # type: ignore[attr-defined]
        await ensure_database(admin_dsn, DATABASE_NAME)
        return with_database(admin_dsn, DATABASE_NAME)

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        self._users[self.pgdata] -= 1
        if self._users[self.pgdata] == 0:  # the last handle in this process stops it
            del self._users[self.pgdata]
            await asyncio.to_thread(server.cleanup)  # type: ignore[attr-defined]


def _start_server(pgdata: Path) -> object:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its /tmp fallback is fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only needed with no external database

        return pgserver.get_server(pgdata, cleanup_mode="stop")


def with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def ensure_database(admin_dsn: str, database: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            # CREATE DATABASE takes no parameters; the name is our constant, quoted.
            await conn.execute(f'CREATE DATABASE "{database}"')
    except asyncpg.DuplicateDatabaseError:
        pass  # another process created it between our check and our CREATE
    finally:
        await conn.close()
