"""Migrations: round trip, tampering, concurrency, dry runs, refusals."""

from __future__ import annotations

import asyncio
import subprocess

import asyncpg
import pytest

from db.migrator import Migration, MigrationError, Migrator, expected_tables, load_migrations
from db.pool import connect
from tests.conftest import PAYWATCH, clean_env
from tests.schema_dump import dump_schema


def quiet(_line: str) -> None:
    pass


def paywatch(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAYWATCH, *args], env=clean_env(PAYWATCH_DATABASE_URL=dsn),
                          capture_output=True, text=True, timeout=120, check=False)


async def table_names(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


async def test_up_down_up_leaves_an_identical_schema(empty_db_dsn: str) -> None:
    conn = await connect(empty_db_dsn)
    try:
        migrator = Migrator(conn, progress=quiet)
        await migrator.up()
        first = await dump_schema(conn)
        assert len(first["columns"]) > 100
        assert first["indexes"]

        await migrator.down(to=0)
        assert await table_names(conn) == {"schema_migrations"}
        assert (await dump_schema(conn))["domains"] == []

        await migrator.up()
        assert await dump_schema(conn) == first
        assert await migrator.validate() == []
    finally:
        await conn.close()


async def test_initial_schema_has_every_table_of_the_design(db_dsn: str) -> None:
    conn = await connect(db_dsn)
    try:
        tables = await table_names(conn)
    finally:
        await conn.close()
    for table in ("stores", "api_keys", "customers", "orders", "order_items",
                  "order_status_history", "payments", "transfers", "events",
                  "webhook_endpoints", "webhook_deliveries", "idempotency_keys", "audit_log",
                  "watch_cursors", "schema_migrations"):
        assert table in tables
    assert expected_tables(load_migrations()) <= tables


def test_a_tampered_applied_file_is_refused_by_validate_and_by_run(db_dsn: str) -> None:
    async def tamper() -> None:
        conn = await connect(db_dsn)
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        await conn.close()

    asyncio.run(tamper())
    validate = paywatch(db_dsn, "migrate", "validate")
    assert validate.returncode == 1
    assert "migrations/0001_init.sql was changed after it was applied" in validate.stdout

    run = paywatch(db_dsn, "run")
    assert run.returncode == 1
    assert "refusing to start" in run.stderr
    assert "0001_init.sql" in run.stderr

    up = paywatch(db_dsn, "migrate", "up")
    assert up.returncode == 1
    assert "0001_init.sql" in up.stderr


def test_two_concurrent_migrate_up_apply_each_file_once(empty_db_dsn: str) -> None:
    env = clean_env(PAYWATCH_DATABASE_URL=empty_db_dsn)
    procs = [subprocess.Popen([PAYWATCH, "migrate", "up"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    stdout = "".join(out for out, _err in outputs)
    assert stdout.count("applying 0001_init.sql") == 1
    assert stdout.count("applying 0002_payment_notify.sql") == 1
    assert stdout.count("nothing to apply") == 1

    async def applied() -> list[asyncpg.Record]:
        conn = await connect(empty_db_dsn)
        rows = await conn.fetch("SELECT version FROM schema_migrations")
        await conn.close()
        return rows

    assert [r["version"] for r in asyncio.run(applied())] == [
        m.version for m in load_migrations()]


async def test_dry_runs_change_nothing(empty_db_dsn: str) -> None:
    conn = await connect(empty_db_dsn)
    try:
        lines: list[str] = []
        migrator = Migrator(conn, progress=lines.append)
        planned = await migrator.up(dry_run=True)
        assert [m.version for m in planned] == [m.version for m in load_migrations()]
        assert lines[0] == "would apply 0001_init.sql"
        assert await table_names(conn) == {"schema_migrations"}

        await migrator.up()
        before = await dump_schema(conn)
        lines.clear()
        await migrator.down(to=0, dry_run=True)
        assert lines[-1] == "would revert 0001_init.sql"
        assert await dump_schema(conn) == before
    finally:
        await conn.close()


def test_migrate_status_and_dry_run_through_the_cli(empty_db_dsn: str) -> None:
    status = paywatch(empty_db_dsn, "migrate", "status")
    assert status.returncode == 0
    assert "0001  init" in status.stdout
    assert "pending" in status.stdout
    dry = paywatch(empty_db_dsn, "migrate", "up", "--dry-run")
    assert dry.returncode == 0
    assert "would apply 0001_init.sql" in dry.stdout
    assert "pending" in paywatch(empty_db_dsn, "migrate", "status").stdout
    assert paywatch(empty_db_dsn, "migrate", "up").returncode == 0
    assert "applied" in paywatch(empty_db_dsn, "migrate", "status").stdout


async def test_down_without_a_down_file_is_refused_before_anything_runs(
        empty_db_dsn: str) -> None:
    migrations = [*load_migrations(),
                  Migration(9001, "no_way_back", "CREATE TABLE extra_t (id int);", None)]
    conn = await connect(empty_db_dsn)
    try:
        migrator = Migrator(conn, migrations, progress=quiet)
        await migrator.up()
        with pytest.raises(MigrationError, match=r"no down file for migrations/9001_no_way_back"):
            await migrator.down(to=0)
        assert "extra_t" in await table_names(conn)
        assert [a.version for a in await migrator.applied()][-1] == 9001
    finally:
        await conn.close()


async def test_up_to_stops_at_the_given_version(empty_db_dsn: str) -> None:
    migrations = [*load_migrations(),
                  Migration(9002, "second", "CREATE TABLE second_t (id int);",
                            "DROP TABLE second_t;")]
    conn = await connect(empty_db_dsn)
    try:
        migrator = Migrator(conn, migrations, progress=quiet)
        assert [m.version for m in await migrator.up(to=1)] == [1]
        assert (await migrator.is_current())[0] is False
        assert [m.version for m in await migrator.up()][-1] == 9002
        assert await migrator.is_current() == (True, "ok")
        assert [m.version for m in await migrator.down(steps=1)] == [9002]
        assert "second_t" not in await table_names(conn)
    finally:
        await conn.close()


async def test_validate_reports_a_missing_table_and_a_pending_file(db_dsn: str) -> None:
    conn = await connect(db_dsn)
    try:
        await conn.execute("DROP TABLE watch_cursors")
        extra = Migration(9003, "later", "CREATE TABLE later_t (id int);", None)
        problems = await Migrator(conn, [*load_migrations(), extra], progress=quiet).validate()
        assert "table watch_cursors is missing" in problems
        assert "migrations/9003_later.sql is not applied" in problems
    finally:
        await conn.close()
