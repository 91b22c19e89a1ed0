"""Migration runner: numbered plain-SQL files, applied one transaction each, under an advisory lock.

Files live in the `migrations` package: `NNNN_name.sql` and, for going back, `NNNN_name.down.sql`.
`schema_migrations` records version, name, checksum, applied_at and duration. An applied file whose
checksum changed is refused by name, before anything runs: editing history silently is how two
databases that claim the same version end up different.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources

import asyncpg

from db import queries

log = logging.getLogger("paywatch.migrate")

_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
_CREATE_TABLE = re.compile(r"\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)
_DROP_TABLE = re.compile(r"\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\w+)", re.IGNORECASE)


class MigrationError(Exception):
    """A refusal with a message meant for the operator."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up_sql: str = field(repr=False)
    down_sql: str | None = field(repr=False)

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up_sql.encode()).hexdigest()


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    checksum: str


@dataclass(frozen=True)
class StatusRow:
    version: int
    name: str
    state: str  # applied | pending | changed | missing-file
    applied_at: str | None = None


def load_migrations(package: str = "migrations") -> list[Migration]:
    root = resources.files(package)
    found: dict[int, Migration] = {}
    for entry in root.iterdir():
        match = _FILE.match(entry.name)
        if not match:
            continue
        version = int(match["version"])
        if version in found:
            raise MigrationError(f"two migration files have version {version:04d}")
        down = root / entry.name.replace(".sql", ".down.sql")
        found[version] = Migration(
            version=version,
            name=match["name"],
            up_sql=entry.read_text(encoding="utf-8"),
            down_sql=down.read_text(encoding="utf-8") if down.is_file() else None,
        )
    return [found[v] for v in sorted(found)]


def expected_tables(migrations: list[Migration]) -> set[str]:
    """Tables the applied files should have left behind: created, minus later dropped."""
    tables: set[str] = set()
    for migration in migrations:
        tables |= {t.lower() for t in _CREATE_TABLE.findall(migration.up_sql)}
        tables -= {t.lower() for t in _DROP_TABLE.findall(migration.up_sql)}
    return tables


Progress = Callable[[str], None]


class Migrator:
    def __init__(self, conn: asyncpg.Connection, migrations: list[Migration] | None = None,
                 progress: Progress | None = None) -> None:
        self.conn = conn
        self.migrations = migrations if migrations is not None else load_migrations()
        self.by_version = {m.version: m for m in self.migrations}
        self.progress = progress or (lambda line: log.info(line))

    async def applied(self) -> list[Applied]:
        await self.conn.execute(queries.CREATE_SCHEMA_MIGRATIONS)
        rows = await self.conn.fetch(queries.SELECT_APPLIED_MIGRATIONS)
        return [Applied(r["version"], r["name"], r["checksum"]) for r in rows]

    async def status(self) -> list[StatusRow]:
        await self.conn.execute(queries.CREATE_SCHEMA_MIGRATIONS)
        rows = {r["version"]: r for r in await self.conn.fetch(queries.SELECT_APPLIED_MIGRATIONS)}
        out = []
        for m in self.migrations:
            row = rows.get(m.version)
            if row is None:
                out.append(StatusRow(m.version, m.name, "pending"))
            else:
                state = "applied" if row["checksum"] == m.checksum else "changed"
                out.append(StatusRow(m.version, m.name, state, row["applied_at"].isoformat()))
        for version, row in rows.items():
            if version not in self.by_version:
                out.append(StatusRow(version, row["name"], "missing-file",
                                     row["applied_at"].isoformat()))
        return sorted(out, key=lambda r: r.version)

    def check_history(self, applied: list[Applied]) -> None:
        """Refuse when an applied file changed or vanished, naming it."""
        for a in applied:
            m = self.by_version.get(a.version)
            if m is None:
                raise MigrationError(
                    f"migration {a.version:04d}_{a.name} is applied but its file is missing"
                )
            if m.checksum != a.checksum:
                raise MigrationError(
                    f"migrations/{m.filename} was changed after it was applied "
                    f"(checksum {a.checksum[:12]} in the database, {m.checksum[:12]} on disk); "
                    "write a new migration instead of editing an applied one"
                )

    async def pending(self) -> list[Migration]:
        applied = await self.applied()
        self.check_history(applied)
        done = {a.version for a in applied}
        return [m for m in self.migrations if m.version not in done]

    async def up(self, to: int | None = None, dry_run: bool = False) -> list[Migration]:
        async with advisory_lock(self.conn):
            todo = [m for m in await self.pending() if to is None or m.version <= to]
            for m in todo:
                if dry_run:
                    self.progress(f"would apply {m.filename}")
                    continue
                await self._apply(m)
            return todo

    async def _apply(self, m: Migration) -> None:
        self.progress(f"applying {m.filename} ...")
        started = time.perf_counter()
        async with self.conn.transaction():
            await self.conn.execute(m.up_sql)
            ms = int((time.perf_counter() - started) * 1000)
            await self.conn.execute(queries.INSERT_APPLIED_MIGRATION,
                                    m.version, m.name, m.checksum, ms)
        self.progress(f"applied {m.filename} in {ms} ms")

    async def down(self, to: int | None = None, steps: int | None = None,
                   dry_run: bool = False) -> list[Migration]:
        if (to is None) == (steps is None):
            raise MigrationError("down needs exactly one of --to N or --steps K")
        async with advisory_lock(self.conn):
            applied = await self.applied()
            self.check_history(applied)
            newest_first = sorted((a.version for a in applied), reverse=True)
            versions = newest_first[:steps] if steps is not None else [
                v for v in newest_first if v > (to or 0)]
            todo = [self.by_version[v] for v in versions]
            missing = [m.filename for m in todo if m.down_sql is None]
            if missing:
                raise MigrationError(
                    "cannot go down: no down file for " + ", ".join(
                        f"migrations/{f.replace('.sql', '.down.sql')}" for f in missing)
                )
            for m in todo:
                if dry_run:
                    self.progress(f"would revert {m.filename}")
                    continue
                await self._revert(m)
            return todo

    async def _revert(self, m: Migration) -> None:
        self.progress(f"reverting {m.filename} ...")
        started = time.perf_counter()
        async with self.conn.transaction():
            await self.conn.execute(m.down_sql or "")
            await self.conn.execute(queries.DELETE_APPLIED_MIGRATION, m.version)
        self.progress(f"reverted {m.filename} in {int((time.perf_counter() - started) * 1000)} ms")

    async def validate(self) -> list[str]:
        """Problems found (empty when all is well): history, pending files, missing tables."""
        problems: list[str] = []
        applied = await self.applied()
        try:
            self.check_history(applied)
        except MigrationError as exc:
            problems.append(str(exc))
        done = {a.version for a in applied}
        problems += [f"migrations/{m.filename} is not applied"
                     for m in self.migrations if m.version not in done]
        present = {r["table_name"] for r in await self.conn.fetch(queries.SELECT_PUBLIC_TABLES)}
        wanted = expected_tables([m for m in self.migrations if m.version in done])
        problems += [f"table {t} is missing" for t in sorted(wanted - present)]
        return problems

    async def is_current(self) -> tuple[bool, str]:
        """For /readyz: cheap, read-only, never creates anything."""
        try:
            rows = await self.conn.fetch(queries.SELECT_APPLIED_CHECKSUMS)
        except asyncpg.UndefinedTableError:
            return False, "no migration has been applied"
        applied = {r["version"]: r["checksum"] for r in rows}
        for m in self.migrations:
            if m.version not in applied:
                return False, f"migration {m.filename} is pending"
            if applied[m.version] != m.checksum:
                return False, f"migration {m.filename} changed after it was applied"
        return True, "ok"


class advisory_lock:
    """Session-level advisory lock: a second migrating process waits, then finds nothing to do."""

    def __init__(self, conn: asyncpg.Connection, key: int = queries.MIGRATION_LOCK_KEY) -> None:
        self.conn, self.key = conn, key

    async def __aenter__(self) -> None:
        await self.conn.execute(queries.ADVISORY_LOCK, self.key)

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.execute(queries.ADVISORY_UNLOCK, self.key)
