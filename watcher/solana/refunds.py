"""Matching a Solana transaction to pending refunds: the merchant's wallet sending money back.

A refund is a Solana Pay transfer request from the store's wallet to the customer, with a fresh
reference. The store's wallet and token accounts are watched already, so the transaction that
pays it is fetched like any other; here, a transfer instruction (top level or inner) carrying
the reference of a pending refund is checked as strictly as an incoming payment: the
transaction succeeded; it is a System transfer for a SOL refund, a token transfer of the
refund's mint for a token refund; it leaves the refund's source wallet (the signing owner) and
goes to the refund's destination (the wallet, or its associated token account for the mint).
The amount recorded is what arrived (the instruction's amount, cut to the destination's balance
delta when that is smaller); services/refunds.py confirms the refund once enough arrived at the
store's commitment. A transfer that carries the reference but breaks a rule is recorded as
rejected against the refund, with the reason. Incoming matching (watcher/solana/matcher.py) is
untouched: it never looks at refund references."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey
from spl.token.instructions import get_associated_token_address

from watcher.solana.matcher import (
    SYSTEM,
    TOKEN_PROGRAMS,
    _balance_mint,
    _data,
    _delta,
    _parse,
    _sites,
    _Transfer,
    account_keys,
)


@dataclass(frozen=True, slots=True)
class PendingRefund:
    id: Any
    store_id: Any
    reference: str
    source: str             # the store's wallet, which signs
    destination: str        # the customer's wallet
    asset: str
    mint: str | None        # None for SOL
    amount: int


@dataclass(frozen=True)
class RefundFinding:
    index: int
    refund: PendingRefund
    sender: str
    recipient: str
    amount: int              # base units that arrived (0 when rejected)
    reject_reason: str | None
    via_program: bool


RefundLookup = Callable[[str], PendingRefund | None]


def match_refunds(tx: dict[str, Any], lookup: RefundLookup) -> list[RefundFinding]:
    """Every transfer instruction that carries a pending refund's reference, checked."""
    keys = account_keys(tx)
    meta = tx.get("meta") or {}
    out = []
    for site in _sites(tx):
        accounts = [keys[a] for a in site.ix["accounts"]]
        transfer = _parse(keys[site.ix["programIdIndex"]], accounts, _data(site.ix))
        if transfer is None:
            continue
        found = {r.id: r for r in map(lookup, accounts) if r is not None}
        if not found:
            continue
        refund = next(iter(found.values()))
        problem = (f"ambiguous: the transfer carries references of {len(found)} refunds"
                   if len(found) > 1 else _problem(refund, transfer, meta, keys))
        amount = 0
        if problem is None:
            amount = min(transfer.amount, max(0, _delta(meta, keys, transfer)))
            if amount == 0:
                problem = "nothing arrived at the destination"
        out.append(RefundFinding(site.index, refund, transfer.source, transfer.dest, amount,
                                 problem, site.inner))
    return out


def _problem(refund: PendingRefund, transfer: _Transfer, meta: dict[str, Any],
             keys: list[str]) -> str | None:
    if meta.get("err") is not None:
        return f"transaction failed: {meta['err']}"
    if transfer.source != refund.source:
        return (f"not sent by the store's wallet: sent by {transfer.source}, "
                f"expected {refund.source}")
    if refund.mint is None:
        if transfer.program != SYSTEM:
            return "a token transfer for a SOL refund"
        if transfer.dest != refund.destination:
            return f"wrong destination: paid {transfer.dest}, expected {refund.destination}"
        return None
    if transfer.program not in TOKEN_PROGRAMS:
        return "a SOL transfer for a token refund"
    mint = transfer.mint or _balance_mint(meta, keys, transfer.dest)
    if mint != refund.mint:
        return f"wrong mint: paid {mint}, expected {refund.mint}"
    expected = str(get_associated_token_address(Pubkey.from_string(refund.destination),
                                                Pubkey.from_string(mint),
                                                Pubkey.from_string(transfer.program)))
    if transfer.dest != expected:
        return f"wrong destination: paid token account {transfer.dest}, expected {expected}"
    return None
