"""Transfers found on chain: the one way a watcher records one. A transfer that pays nothing
(no reference of ours, no open payment asking its amount, a closed payment...) is kept for the
store's inbox with the reason, counted, and announced to the merchant as `transfer.unmatched`:
no money that reaches an account paywatch watches is ever silently dropped."""

from __future__ import annotations

from typing import Any

import asyncpg

from db import events
from db import transfers as db
from paywatch.core.metrics import TRANSFERS_REJECTED, TRANSFERS_UNMATCHED
from paywatch.core.objects import transfer_object


async def record(conn: asyncpg.Connection, values: dict[str, Any]) -> bool:
    """Insert a transfer (the keys of db.transfers.insert_transfer). True when it is new, or a
    reverted transfer seen again; False when it was already recorded. Matched transfers need
    their payment resettled by the caller, in the same transaction."""
    row = await db.insert_transfer(conn, values)
    if row is None:
        return False
    if row["fresh"]:
        chain = values["chain"]
        if values.get("reject_reason"):
            TRANSFERS_REJECTED.labels(chain, values["reject_reason"].split(":")[0]).inc()
        if values.get("unmatched_reason") and values.get("store_id") is not None:
            TRANSFERS_UNMATCHED.labels(chain).inc()
            transfer = await db.get(conn, row["id"])
            assert transfer is not None
            await events.emit(conn, store_id=values["store_id"], type_="transfer.unmatched",
                              data={"object": transfer_object(transfer)})
    return True
