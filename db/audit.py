"""SQL for the audit log: who changed what, before and after."""

from __future__ import annotations

from typing import Any

import asyncpg

INSERT_AUDIT = """
INSERT INTO audit_log (store_id, actor, action, object_type, object_id, before, after)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""


async def record(conn: asyncpg.Connection, *, store_id: Any, actor: str, action: str,
                 object_type: str, object_id: Any, before: Any = None, after: Any = None) -> None:
    await conn.execute(INSERT_AUDIT, store_id, actor, action, object_type, str(object_id),
                       before, after)
