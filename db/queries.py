"""SQL for the migration runner and health checks (aggregate SQL lives in its own module)."""

import zlib

MIGRATION_LOCK_KEY = 0x70617977  # "payw": one key for every paywatch process migrating a database

ADVISORY_LOCK = "SELECT pg_advisory_lock($1)"
ADVISORY_UNLOCK = "SELECT pg_advisory_unlock($1)"

CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL
)
"""

SELECT_APPLIED_MIGRATIONS = """
SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version
"""

# For /readyz: reads only (an empty database raises UndefinedTableError: "not current").
SELECT_APPLIED_CHECKSUMS = "SELECT version, checksum FROM schema_migrations"

INSERT_APPLIED_MIGRATION = """
INSERT INTO schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)
"""

DELETE_APPLIED_MIGRATION = "DELETE FROM schema_migrations WHERE version = $1"

SELECT_PUBLIC_TABLES = """
SELECT table_name::text AS table_name FROM information_schema.tables
WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
"""

# One active watcher per chain across processes: whoever holds this session lock leads.
WATCHER_LOCK_KEYS = {"solana": 0x70617701}


def watcher_lock_key(chain: str) -> int:
    """Solana's fixed key; an EVM chain's key is a prefix and the CRC of its configured name."""
    if chain in WATCHER_LOCK_KEYS:
        return WATCHER_LOCK_KEYS[chain]
    return (0x70617702 << 32) | zlib.crc32(chain.encode())
TRY_ADVISORY_LOCK = "SELECT pg_try_advisory_lock($1)"
PING = "SELECT 1"
