"""What every benchmark needs first: a PostgreSQL server to make databases on (the one named by
PAYWATCH_DATABASE_URL, else an embedded one in a temporary directory) and migrated databases."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from db.embedded import EmbeddedPostgres, ensure_database, with_database
from db.migrator import Migrator
from db.pool import connect


@asynccontextmanager
async def admin_server() -> AsyncIterator[str]:
    """The admin DSN of PAYWATCH_DATABASE_URL's server, or of an embedded one for the run."""
    given = os.environ.get("PAYWATCH_DATABASE_URL")
    if given:
        yield given
        return
    embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="pwbench-")))
    try:
        yield with_database(await embedded.start(), "postgres")
    finally:
        await embedded.stop()


async def database(admin_dsn: str) -> str:
    """A fresh, fully migrated database on that server."""
    name = f"pwbench_{uuid.uuid4().hex[:8]}"
    await ensure_database(admin_dsn, name)
    dsn = with_database(admin_dsn, name)
    conn = await connect(dsn)
    try:
        await Migrator(conn, progress=lambda _line: None).up()
    finally:
        await conn.close()
    return dsn
