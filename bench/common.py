"""What every benchmark needs first: a PostgreSQL server to make databases on (the one named by
PAYWATCH_DATABASE_URL, else an embedded one in a temporary directory), migrated databases, and
the `paywatch` command of this interpreter's environment."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from db.embedded import EmbeddedPostgres, ensure_database, with_database
from db.migrator import Migrator
from db.pool import connect

BIN = Path(sys.executable).parent  # the environment whose paywatch is measured


def paywatch(env: dict[str, str], *args: str) -> str:
    """Run one `paywatch` command; its standard output (raises if it fails)."""
    return subprocess.run([str(BIN / "paywatch"), *args], env=env, check=True,
                          capture_output=True, text=True).stdout


def wait_ready(base: str, path: str = "/readyz") -> None:
    """Until `base` answers 200 on `path` (/healthz: up, before the watchers caught up), within
    a minute."""
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{base}{path}", timeout=1) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"paywatch did not answer {path}")


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
