"""Refunds: the one module that changes a refund's status.

A refund is a payment request in the other direction: the merchant's own wallet signs it,
paywatch never holds a key. `create` decides how much may go back and where to, asks the
payment's chain to build the request (paywatch.core.chains.Refunds), and records it `pending`;
the watcher records the outgoing transfer and calls `resettle`, which confirms the refund at the
store's commitment (the payment's rule), adds it to the payment's `amount_refunded` and moves
its order to `refunded` or `partially_refunded`. A pending refund past `expires_at` expires
(the sweep), and the merchant may cancel a pending one.

Every change runs in the caller's transaction, is one guarded UPDATE (db/refunds.py) whose
expected statuses come from paywatch/core/states.py, and emits its event with the refund under
`data.object`: refund.created, refund.confirmed, refund.expired, refund.cancelled, and
refund.reverted when the transfer that confirmed it was dropped by the chain (a reorg or a dead
fork): the refund is pending again, what the payment gave back shrinks by its amount and the
order steps back (to partially_refunded, or to the status it had before any refund), each with
a history row; when the transaction is included again the refund confirms again.

Destination rules (issue 17): the merchant's `destination` wins; else the account that asked
for the payment's Transaction Request (`payer`); else the one sender of the payment's
transfers. When the money came by unique amount, from inside a program, or from several
senders, that sender may be an exchange's shared hot wallet or a contract: no default, the
merchant must say where, and RefundRefused says why."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from db import audit, events, stores
from db import payments as db_payments
from db import refunds as db
from db.pool import transaction
from paywatch.core.chains import ChainAdapter, ChainInputError, RefundAsk, Refunds
from paywatch.core.money import fiat_to_base_units, format_units
from paywatch.core.objects import refund_object
from paywatch.core.payments import required_commitment
from paywatch.core.settlement import COUNTED, LIVE
from paywatch.core.states import REFUND_TRANSITIONS
from paywatch.services import orders
from paywatch.services import payments as payment_service
from paywatch.services.payments import Change

log = logging.getLogger("paywatch.services.refunds")

# How long the merchant has to send a refund before it expires (and stops holding its amount
# against the payment): a day, unless the request says otherwise.
DEFAULT_LIFETIME = timedelta(hours=24)

# A payment whose money arrived for good: detected money may still be reverted, and a pending
# or cancelled payment received nothing.
REFUNDABLE_PAYMENT = ("confirmed", "expired", "invalid")


class RefundRefused(Exception):
    """A refund that cannot be made, and why; nothing changed. kind: `missing` (404),
    `conflict` (409: the payment's or refund's state), `invalid` (422)."""

    def __init__(self, kind: str, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.kind, self.code, self.message, self.param = kind, code, message, param


@dataclass(frozen=True)
class Price:
    """The price a fiat amount is converted at: the payment's quote, or the market's now."""
    rate: str          # 'quote' | 'market'
    price: Decimal     # fiat per whole coin
    source: str


@dataclass(frozen=True)
class Ask:
    """What the merchant asked for. Exactly one of `amount` (base units) and `fiat_amount` (in
    the payment's currency, converted at `price`)."""
    amount: int | None
    fiat_amount: Decimal | None
    price: Price
    destination: str | None = None
    reason: str | None = None
    expires_in: int | None = None
    asset: str | None = None


# ----- create ----------------------------------------------------------------------------------

async def create(conn: asyncpg.Connection, chain: ChainAdapter, store: asyncpg.Record,
                 payment: asyncpg.Record, ask: Ask, change: Change) -> dict[str, Any]:
    """A new pending refund of `payment` (the store's, already loaded), with its request for the
    merchant's wallet, its refund.created event and audit row; RefundRefused, changing nothing,
    when it cannot be. Returns the refund as JSON."""
    if not isinstance(chain, Refunds):
        raise RefundRefused("invalid", "refunds_not_supported",
                            f"{chain.name} payments cannot be refunded here")
    async with transaction(conn):
        locked = await db.lock_payment(conn, payment["id"])  # two refunds decide in turn
        assert locked is not None
        _check_refundable(locked, ask)
        amount, fiat = _amounts(locked, ask)
        available = (int(locked["amount_received"]) - int(locked["amount_refunded"])
                     - await db.pending_total(conn, locked["id"]))
        if amount > available:
            raise RefundRefused(
                "invalid", "amount_too_large",
                f"at most {format_units(max(available, 0), locked['decimals'])} "
                f"{locked['asset']} can still be refunded (received "
                f"{format_units(int(locked['amount_received']), locked['decimals'])}, refunded or "
                "pending the rest)", "amount" if ask.amount is not None else "fiat_amount")
        destination, source_of = await _destination(conn, chain, locked, ask.destination)
        try:
            planned = await chain.plan_refund(conn, store, RefundAsk(
                destination, amount, locked["mint"], locked["decimals"], store["name"],
                locked["recipient"]))
        except ChainInputError as exc:
            raise RefundRefused("invalid", exc.code, exc.message, exc.param) from None
        now = await db_payments.database_now(conn)
        lifetime = timedelta(seconds=ask.expires_in) if ask.expires_in else DEFAULT_LIFETIME
        row = await db.insert(conn, {
            "store_id": locked["store_id"], "payment_id": locked["id"],
            "order_id": locked["order_id"], "chain": locked["chain"], "asset": locked["asset"],
            "mint": locked["mint"], "decimals": locked["decimals"], "amount": amount,
            "currency": locked["currency"], "fiat_amount": fiat, "rate": ask.price.rate,
            "price": ask.price.price, "price_source": ask.price.source,
            "destination": destination, "destination_from": source_of, "reason": ask.reason,
            "expires_at": now + lifetime, "created_by": change.actor, **planned})
        out = refund_object(row, [], change.public_url)
        await _emit(conn, "refund.created", row, out, None, change)
        await audit.record(conn, store_id=row["store_id"], actor=change.actor,
                           action="refund.create", object_type="refund", object_id=row["id"],
                           after=out)
    return out


def _check_refundable(payment: asyncpg.Record, ask: Ask) -> None:
    if ask.asset is not None and ask.asset.upper() != payment["asset"]:
        raise RefundRefused("invalid", "asset_mismatch",
                            f"the payment was made in {payment['asset']} on "
                            f"{payment['chain']}; a refund goes back in the same asset",
                            "asset")
    if int(payment["amount_received"]) == 0:
        raise RefundRefused("conflict", "payment_not_refundable",
                            f"payment {payment['id']} is {payment['status']} and received "
                            "nothing: there is nothing to refund")
    if payment["status"] not in REFUNDABLE_PAYMENT:
        raise RefundRefused("conflict", "payment_not_refundable",
                            f"payment {payment['id']} is {payment['status']}: its money is "
                            "not final yet; refund it once it is confirmed")


def _amounts(payment: asyncpg.Record, ask: Ask) -> tuple[int, Decimal]:
    """(base units, fiat value in the payment's currency at the chosen price)."""
    decimals, price = payment["decimals"], ask.price.price
    if ask.amount is not None:
        amount = ask.amount
        fiat = (Decimal(amount) * price).scaleb(-decimals).quantize(Decimal("1e-8"))
    else:
        assert ask.fiat_amount is not None
        fiat = ask.fiat_amount
        # The one conversion of fiat to crypto, rounded up to a base unit; the check against
        # what is still available follows.
        amount = fiat_to_base_units(fiat, price, decimals)
    if amount <= 0:
        raise RefundRefused("invalid", "amount_too_small",
                            "the refund rounds to nothing in base units", "fiat_amount")
    return amount, fiat


async def _destination(conn: asyncpg.Connection, chain: ChainAdapter, payment: asyncpg.Record,
                       given: str | None) -> tuple[str, str]:
    """(address, where it came from: given | payer | sender); see the module's rules."""
    if given is not None:
        try:
            return chain.validate_address(given), "given"
        except ValueError as exc:
            raise RefundRefused("invalid", "destination_invalid",
                                f"destination is not a {chain.display_name} address: {exc}",
                                "destination") from None
    if payment["payer"]:
        return payment["payer"], "payer"
    senders = await db.payment_senders(conn, payment["id"])
    why = _no_default(senders)
    if why is not None:
        raise RefundRefused("invalid", "destination_required",
                            f"give a destination: {why}, so paywatch will not guess where "
                            "the money should go back", "destination")
    return senders[0]["sender"], "sender"


def _no_default(senders: list[asyncpg.Record]) -> str | None:
    """Why the payment's sender is no safe default, or None when it is one."""
    if not senders or any(s["sender"] is None for s in senders):
        return "the payment's sender is not known"
    if any(s["matched_by"] == "unique_amount" for s in senders):
        return ("the payment was matched by its unique amount, which is how exchanges pay: "
                "the sender may be an exchange's shared hot wallet")
    if any(s["via_program"] for s in senders):
        return ("the money came from inside a program (a smart wallet, an aggregator or a "
                "contract): the sender may not be the customer's own account")
    if len({s["sender"] for s in senders}) > 1:
        return "the payment was paid by several senders"
    return None


# ----- the merchant's cancel, and the clock's expiry ---------------------------------------

async def cancel(conn: asyncpg.Connection, refund_id: Any, store_id: Any,
                 change: Change) -> dict[str, Any]:
    """Cancel a pending refund (its amount is available again); RefundRefused otherwise."""
    async with transaction(conn):
        before = await db.get(conn, refund_id, store_id)
        if before is None:
            raise RefundRefused("missing", "resource_missing", f"no refund {refund_id}")
        row = await db.cancel(conn, refund_id, store_id, REFUND_TRANSITIONS["cancelled"])
        if row is None:
            raise RefundRefused("conflict", "refund_not_cancellable",
                                f"refund is {before['status']}; only a pending refund can be "
                                "cancelled")
        out = refund_object(row, await db.transfers_of(conn, refund_id), change.public_url)
        await _emit(conn, "refund.cancelled", row, out, before["status"], change)
        await audit.record(conn, store_id=store_id, actor=change.actor, action="refund.cancel",
                           object_type="refund", object_id=refund_id,
                           before={"status": before["status"]},
                           after={"status": "cancelled", "reason": change.reason})
    return out


async def expire_due(conn: asyncpg.Connection, limit: int, public_url: str | None) -> int:
    """Pending refunds past their lifetime become expired (one batch, the caller's
    transaction); each gets its refund.expired event."""
    rows = await db.expire_due(conn, limit, REFUND_TRANSITIONS["expired"])
    if rows:
        found = await db.transfers_of_many(conn, [r["id"] for r in rows])
        await events.emit_many(conn, [
            (r["store_id"], "refund.expired", r["payment_id"], r["order_id"],
             {"object": refund_object(r, found[r["id"]], public_url),
              "previous_status": "pending", "reason": None}) for r in rows])
    return len(rows)


# ----- the chain's decisions ---------------------------------------------------------------

async def resettle(conn: asyncpg.Connection, refund_id: Any, change: Change) -> str | None:
    """Lock the refund, decide from its outgoing transfers (confirmed at the store's
    commitment for this amount, as payments are), apply it; the new status or None."""
    refund = await db.lock(conn, refund_id)
    if refund is None:
        return None
    store = await stores.store_by_id(conn, refund["store_id"])
    commitment = required_commitment(store, refund["fiat_amount"])
    transfers = await db.out_transfers(conn, refund_id)
    sent = sum(int(t["amount"]) for t in transfers if t["status"] in COUNTED[commitment])
    if refund["status"] == "pending" and sent >= int(refund["amount"]):
        return await _confirm(conn, refund, change)
    if refund["status"] == "confirmed" and sent < int(refund["amount"]):
        return await _reopen(conn, refund, transfers, change)
    return None


async def _confirm(conn: asyncpg.Connection, refund: asyncpg.Record,
                   change: Change) -> str | None:
    row = await db.confirm(conn, refund["id"], REFUND_TRANSITIONS["confirmed"])
    if row is None:
        return None
    payment = await payment_service.add_refunded(conn, row["payment_id"], int(row["amount"]))
    if payment is None:  # more than received: cannot happen, pending refunds hold their amount
        log.error("refund %s: the payment cannot take it back", row["id"])
    out = refund_object(row, await db.transfers_of(conn, row["id"]), change.public_url)
    await _emit(conn, "refund.confirmed", row, out, "pending", change)
    if payment is not None:
        await orders.follow_refunds(conn, payment, change.actor, f"refund {row['id']} confirmed")
    log.info("refund %s confirmed", row["id"])
    return "confirmed"


async def _reopen(conn: asyncpg.Connection, refund: asyncpg.Record,
                  transfers: list[asyncpg.Record], change: Change) -> str | None:
    row = await db.reopen(conn, refund["id"], REFUND_TRANSITIONS["pending"])
    if row is None:
        return None
    payment = await payment_service.add_refunded(conn, row["payment_id"], -int(row["amount"]))
    out = refund_object(row, await db.transfers_of(conn, row["id"]), change.public_url)
    await _emit(conn, "refund.reverted", row, out, "confirmed", change)
    if payment is not None:
        await orders.follow_refunds(conn, payment, change.actor,
                          f"refund {row['id']} reverted: its transfer left the chain")
    log.warning("refund %s reverted to pending", row["id"],
                extra={"transfers": [t["status"] for t in transfers if t["status"] in LIVE]})
    return "pending"


async def _emit(conn: asyncpg.Connection, type_: str, row: asyncpg.Record, out: dict[str, Any],
                previous: str | None, change: Change) -> None:
    await events.emit(conn, store_id=row["store_id"], type_=type_,
                      data={"object": out, "previous_status": previous, "reason": change.reason},
                      payment_id=row["payment_id"], order_id=row["order_id"])
