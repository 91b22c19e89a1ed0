"""Transfers found on chain: the one way a watcher records one. A transfer that pays nothing
(no reference of ours, no open payment asking its amount, a closed payment...) is kept for the
store's inbox with the reason, counted, and announced to the merchant as `transfer.unmatched`:
no money that reaches an account paywatch watches is ever silently dropped. The merchant then
assigns such a transfer to a payment (which settles by the normal rules) or dismisses it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from db import audit, events
from db import payments as db_payments
from db import transfers as db
from db.pool import transaction
from paywatch.core.metrics import INBOX_OPEN, TRANSFERS_REJECTED, TRANSFERS_UNMATCHED
from paywatch.core.objects import transfer_object
from paywatch.core.settlement import LIVE
from paywatch.core.states import WATCHED_PAYMENT
from paywatch.services import payments


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


# ----- the merchant's inbox: assign an entry to a payment, or dismiss it --------------------
#
# A payment takes an assigned transfer while a transfer could still pay it on its own: pending,
# detected, or expired (WATCHED_PAYMENT). Settlement then applies its usual rules: an expired
# payment stays expired with `paid_late` unless the store accepts late payments. A confirmed
# payment is already paid, a cancelled one must not be paid, and an invalid one is closed (the
# merchant settles it by hand instead): each is refused.
ASSIGNABLE = WATCHED_PAYMENT


class InboxRefused(Exception):
    """An assign or dismiss that cannot happen, and why. kind: `missing` (no such transfer or
    payment for this store), `conflict` (its state forbids it), `invalid` (they do not fit)."""

    def __init__(self, kind: str, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.kind, self.code, self.message, self.param = kind, code, message, param


@dataclass(frozen=True)
class Resolved:
    """The entry after an assign or dismiss; `repeated` when it already was exactly so (the
    same assignment to the same payment, the same dismissal): nothing changed, no event."""
    transfer: asyncpg.Record
    repeated: bool = False


async def assign(conn: asyncpg.Connection, transfer_id: int, store_id: Any, payment_id: Any,
                 actor: str, *, note: str | None = None,
                 public_url: str | None = None) -> Resolved:
    """Attach an inbox entry to one of the store's payments and resettle the payment by the
    normal rules (its events, the order paid), audited and announced as transfer.assigned.
    Runs in the caller's transaction; InboxRefused, changing nothing, when it cannot."""
    async with transaction(conn):
        entry = await _open_entry(conn, transfer_id, store_id)
        if entry["resolution"] == "assigned" and entry["payment_id"] == payment_id:
            return Resolved(entry, repeated=True)
        _check_open(entry)
        payment = await _assignable_payment(conn, entry, store_id, payment_id)
        row = await db.assign(conn, transfer_id, store_id, payment_id, actor, note, ASSIGNABLE)
        if row is None:  # the locks above make this unreachable; never attach money silently
            raise InboxRefused("conflict", "transfer_changed",
                               f"transfer {transfer_id} changed while being assigned; retry")
        await audit.record(conn, store_id=store_id, actor=actor, action="transfer.assign",
                           object_type="transfer", object_id=transfer_id,
                           before=_resolution_of(entry),
                           after={**_resolution_of(row), "payment_status": payment["status"]})
        await events.emit(conn, store_id=store_id, type_="transfer.assigned",
                          data={"object": transfer_object(row)}, payment_id=payment_id,
                          order_id=payment["order_id"])
        await payments.resettle(conn, payment_id, payments.Change(
            actor, public_url, note or f"transfer {transfer_id} assigned by the merchant"))
    return Resolved(row)


async def dismiss(conn: asyncpg.Connection, transfer_id: int, store_id: Any, reason: str,
                  actor: str) -> Resolved:
    """Close an inbox entry that pays nothing (the owner's own top-up, a test...), audited and
    announced as transfer.dismissed; repeating it with the same reason changes nothing."""
    async with transaction(conn):
        entry = await _open_entry(conn, transfer_id, store_id)
        if entry["resolution"] == "dismissed" and entry["resolution_note"] == reason:
            return Resolved(entry, repeated=True)
        _check_open(entry)
        row = await db.dismiss(conn, transfer_id, store_id, actor, reason)
        if row is None:
            raise InboxRefused("conflict", "transfer_changed",
                               f"transfer {transfer_id} changed while being dismissed; retry")
        await audit.record(conn, store_id=store_id, actor=actor, action="transfer.dismiss",
                           object_type="transfer", object_id=transfer_id,
                           before=_resolution_of(entry), after=_resolution_of(row))
        await events.emit(conn, store_id=store_id, type_="transfer.dismissed",
                          data={"object": transfer_object(row)})
    return Resolved(row)


def _resolution_of(t: asyncpg.Record) -> dict[str, Any]:
    return {"payment_id": str(t["payment_id"]) if t["payment_id"] else None,
            "resolution": t["resolution"], "note": t["resolution_note"], "status": t["status"]}


async def _open_entry(conn: asyncpg.Connection, transfer_id: int,
                      store_id: Any) -> asyncpg.Record:
    """The store's inbox entry, locked (before its payment, in the watchers' order)."""
    entry = await db.lock_inbox_entry(conn, transfer_id, store_id)
    if entry is not None:
        return entry
    matched = await db.store_transfer(conn, transfer_id, store_id)
    if matched is None:  # another store's transfer is missing too: never confirm it exists
        raise InboxRefused("missing", "resource_missing", f"no transfer {transfer_id}")
    raise InboxRefused("conflict", "transfer_not_in_inbox",
                       f"transfer {transfer_id} is not in the inbox: it "
                       + (f"pays payment {matched['payment_id']} (matched by "
                          f"{matched['matched_by'] or 'reference'})" if matched["status"]
                          != "rejected" else f"was rejected ({matched['reject_reason']})"))


def _check_open(entry: asyncpg.Record) -> None:
    """Refuse an entry that is no longer waiting for the merchant."""
    transfer_id = entry["id"]
    if entry["resolution"] == "assigned":
        raise InboxRefused("conflict", "transfer_already_assigned",
                           f"transfer {transfer_id} is already assigned to payment "
                           f"{entry['payment_id']}")
    if entry["resolution"] == "dismissed":
        raise InboxRefused("conflict", "transfer_dismissed",
                           f"transfer {transfer_id} was dismissed: "
                           f"{entry['resolution_note']}")
    if entry["status"] not in LIVE:
        raise InboxRefused("conflict", "transfer_reverted",
                           f"transfer {transfer_id} is {entry['status']}: the chain dropped "
                           "its transaction, so it moved no money")


async def _assignable_payment(conn: asyncpg.Connection, entry: asyncpg.Record, store_id: Any,
                              payment_id: Any) -> asyncpg.Record:
    """The store's payment, locked, of the entry's chain and asset, still able to take money."""
    payment = await db_payments.get_payment(conn, payment_id, store_id)
    if payment is None:
        raise InboxRefused("missing", "resource_missing", f"no payment {payment_id}",
                           "payment_id")
    if payment["chain"] != entry["chain"]:
        raise InboxRefused("invalid", "chain_mismatch",
                           f"the transfer is on {entry['chain']}, the payment on "
                           f"{payment['chain']}", "payment_id")
    if (payment["asset"], payment["mint"]) != (entry["asset"], entry["mint"]):
        raise InboxRefused("invalid", "asset_mismatch",
                           f"the transfer is {_asset(entry)}, the payment asks "
                           f"{_asset(payment)}", "payment_id")
    locked = await db_payments.payment_facts(conn, payment_id)  # FOR UPDATE: status holds
    assert locked is not None
    status = locked["status"]
    if status not in ASSIGNABLE:
        code, why = _CLOSED.get(status, ("payment_closed", "it is closed"))
        raise InboxRefused("conflict", code, f"payment {payment_id} is {status}: {why}; only "
                           f"{', '.join(ASSIGNABLE)} payments take a transfer", "payment_id")
    return payment


_CLOSED = {
    "confirmed": ("payment_already_paid", "it is already paid"),
    "cancelled": ("payment_cancelled", "it was cancelled and must not be paid"),
    "invalid": ("payment_closed", "its money did not arrive in time (settle it by hand "
                "instead)"),
}


def _asset(row: asyncpg.Record) -> str:
    return f"{row['asset']} ({row['mint']})" if row["mint"] else row["asset"]


# ----- the open inbox gauge ------------------------------------------------------------------

_GAUGED_CHAINS: set[str] = set()


async def refresh_inbox_gauge(pool: asyncpg.Pool) -> int:
    """Set paywatch_inbox_open_transfers per chain from the database (a chain whose inbox
    emptied reads 0, not its last count). Returns the total open."""
    async with pool.acquire() as conn:
        counts = await db.open_inbox_by_chain(conn)
    _GAUGED_CHAINS.update(counts)
    for chain in _GAUGED_CHAINS:
        INBOX_OPEN.labels(chain).set(counts.get(chain, 0))
    return sum(counts.values())
