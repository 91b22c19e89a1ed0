"""Test databases on a real PostgreSQL server.

The server is `PAYWATCH_TEST_DATABASE_URL` when set, else an embedded pgserver in a temporary
directory. Each test session (each pytest-xdist worker: a process, with its own embedded server)
migrates one template database; each test that wants a database gets a fresh clone of it
(`CREATE DATABASE ... TEMPLATE`), so tests are isolated and cheap. `Clones` makes those clones
ahead of time and drops used ones on a thread of its own, off the tests' critical path."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import uuid
import warnings
from collections import deque
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


class Clones:
    """Fresh clones of one template, made ahead, and the used ones dropped, on a thread.

    CREATE DATABASE ... TEMPLATE and DROP DATABASE cost 0.3-1 s together on the 2-core
    machine under load (measured against the embedded server), paid by each of the ~900 tests
    that take a database. Each clone is still made from the template before its test starts
    and used by that test alone: only the waiting moves off the test's path."""

    def __init__(self, factory: DatabaseFactory, template: str, ahead: int = 2) -> None:
        self.factory, self.template, self.ahead = factory, template, ahead
        self._cond = threading.Condition()
        self._ready: deque[str] = deque()
        self._used: deque[str] = deque()
        self._error: BaseException | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="test-databases", daemon=True)
        self._thread.start()

    def take(self) -> str:
        """The next fresh clone (waits, bounded, when the thread is behind)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._ready or self._error, timeout=300):
                raise TimeoutError("no test database was made in 300 s")
            if self._error is not None:
                raise RuntimeError("making a test database failed") from self._error
            self._cond.notify_all()
            return self._ready.popleft()

    def give_back(self, name: str) -> None:
        with self._cond:
            self._used.append(name)
            self._cond.notify_all()

    def close(self) -> None:
        """Stops the thread once every used clone is dropped; drops the clones nobody took."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=300)
        for name in [*self._ready, *self._used]:
            self.factory.drop(name)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._used
                                    or len(self._ready) < self.ahead)
                if not self._ready and not self._stopping:
                    drop = None            # a test may be waiting: make its clone first
                elif self._used:
                    drop = self._used.popleft()
                elif self._stopping:
                    return
                else:
                    drop = None
            try:
                if drop is not None:
                    self.factory.drop(drop)
                    continue
                name = self.factory.create(template=self.template)
            except BaseException as exc:  # handed to the test waiting in take()
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self._ready.append(name)
                self._cond.notify_all()


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


def _create_sql(name: str, template: str | None) -> str:
    # Names are generated above from hex; CREATE DATABASE takes no bind parameters.
    if template:
        return f'CREATE DATABASE "{name}" TEMPLATE "{template}"'
    return f'CREATE DATABASE "{name}"'
