"""A comparable description of a database's schema (tables, columns, constraints, indexes,
domains), so tests can say "these two databases have the same schema"."""

from __future__ import annotations

import asyncpg

COLUMNS = """
SELECT table_name, column_name, data_type, domain_name, is_nullable, column_default,
       numeric_precision, numeric_scale
FROM information_schema.columns WHERE table_schema = 'public'
ORDER BY table_name, column_name
"""
CONSTRAINTS = """
SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def
FROM pg_constraint WHERE connamespace = 'public'::regnamespace
ORDER BY 1, 2
"""
INDEXES = """
SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2
"""
DOMAINS = """
SELECT typname, format_type(typbasetype, typtypmod) FROM pg_type
WHERE typnamespace = 'public'::regnamespace AND typtype = 'd' ORDER BY 1
"""


TRIGGERS = """
SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger
WHERE NOT tgisinternal ORDER BY 1, 2
"""
FUNCTIONS = """
SELECT proname, pg_get_functiondef(oid) FROM pg_proc
WHERE pronamespace = 'public'::regnamespace ORDER BY 1
"""


async def dump_schema(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        name: [tuple(r.values()) for r in await conn.fetch(sql)]
        for name, sql in (("columns", COLUMNS), ("constraints", CONSTRAINTS),
                          ("indexes", INDEXES), ("domains", DOMAINS),
                          ("triggers", TRIGGERS), ("functions", FUNCTIONS))
    }
