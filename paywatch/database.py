"""Opens the database paywatch runs on: the external one when configured, else embedded."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from db.embedded import EmbeddedPostgres
from db.pool import create_pool
from paywatch.core.redact import mask_url
from paywatch.core.settings import Settings

log = logging.getLogger("paywatch.db")


@dataclass(frozen=True)
class Database:
    dsn: str
    pool: asyncpg.Pool
    embedded: bool


async def resolve_dsn(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    if settings.database_url is not None:
        dsn = settings.database_url.get_secret_value()
        log.info("using external postgresql", extra={"database": mask_url(dsn)})
        return dsn, None
    embedded = EmbeddedPostgres(settings.data_dir)
    dsn = await embedded.start()
    log.info("using embedded postgresql", extra={"pgdata": str(embedded.pgdata)})
    return dsn, embedded


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    dsn, embedded = await resolve_dsn(settings)
    try:
        pool = await create_pool(dsn, settings.db_pool_min_size, settings.db_pool_max_size)
        try:
            yield Database(dsn=dsn, pool=pool, embedded=embedded is not None)
        finally:
            await pool.close()
    finally:
        if embedded is not None:
            await embedded.stop()
