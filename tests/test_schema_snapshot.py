"""db/schema.sql (the whole schema in one file, for reading) is what the migrations produce:
applying it to an empty database gives the same schema as applying every migration in order.
After a new migration, `.venv/bin/python scripts/dump_schema.py` rewrites it."""

from __future__ import annotations

import asyncpg

from db.pool import connect
from tests.conftest import ROOT
from tests.schema_dump import dump_schema

SCHEMA = ROOT / "db" / "schema.sql"


async def test_the_committed_schema_is_what_the_migrations_make(db_dsn: str,
                                                                empty_db_dsn: str) -> None:
    migrated = await connect(db_dsn)  # a clone of the session's migrated template
    fresh = await asyncpg.connect(empty_db_dsn)
    try:
        await fresh.execute(SCHEMA.read_text())
        # pg_dump's preamble empties search_path for its session; the dump is schema-qualified.
        await fresh.execute("SET search_path = public")
        assert await dump_schema(fresh) == await dump_schema(migrated), (
            "db/schema.sql is stale: run .venv/bin/python scripts/dump_schema.py")
    finally:
        await fresh.close()
        await migrated.close()
