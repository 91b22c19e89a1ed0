"""Matching a Solana transaction to open payments, per transfer instruction.

Input is a getTransaction result in `json` encoding (account indices and raw data, so nothing
depends on a node's parser). Every transfer instruction counts wherever it runs: top level, or
inner (`meta.innerInstructions`: a CPI from a smart wallet such as a multisig vault, or from an
aggregator), with the same rule and the same checks; account keys include those loaded from
lookup tables. Transfers are a System transfer for SOL, an SPL Token or Token-2022
transfer/transferChecked for tokens.

A transfer that carries the reference of an open payment is validated at least as strictly as
Solana Pay's validateTransfer: the transaction succeeded; the instruction is a transfer into
the payment's recipient (the wallet, or the recipient's associated token account for the mint);
the mint matches; the memo right before it matches when the payment asked for one. A transfer
carrying references of two payments is ambiguous.

A transfer into a watched account (a store's wallet, or its associated token account for an
accepted mint) that carries no reference of ours matches the unique-amount payment of that
wallet and asset asking exactly the instruction's amount (`matched_by='unique_amount'`).

Nothing that arrived is dropped: a transfer into a watched account that pays no payment (no
reference and no payment of that amount, a reference of a closed or unknown payment, a memo
mismatch, the wrong asset, an ambiguous transfer) is a finding with `unmatched_reason` for the
store owning that account (the inbox). One that names a payment but moved nothing to us (failed
transaction, wrong recipient outside our accounts, not a transfer) is rejected against it. A
transfer signed by the receiving wallet itself is the merchant moving their own money: skipped.

The amount credited is what arrived: the instruction's amount, cut to the recipient's balance
delta when the deltas are smaller (a Token-2022 transfer fee).

Instruction indices (transfers are unique per (chain, tx, index)): top-level instruction i is
i; inner instruction j of top-level instruction i is (i + 1) * INNER_BASE + j. A transaction
has far fewer than INNER_BASE top-level instructions (it fits in 1232 bytes) and at most 64
instructions in its whole trace, so the two ranges never collide.

The memo of an inner transfer: the memo instruction right before it in the same inner list;
when the transfer is the first instruction of its inner list, the memo right before its
top-level instruction (a wallet that puts the memo next to the program call it makes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import base58
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import get_associated_token_address

SYSTEM = "11111111111111111111111111111111"
TOKEN_PROGRAMS = (str(TOKEN_PROGRAM_ID), str(TOKEN_2022_PROGRAM_ID))
MEMO_PROGRAMS = ("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
                 "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo")
INNER_BASE = 10_000

# Why a transfer into a watched account paid nothing (transfers.unmatched_reason); a reason
# about a named payment (memo, asset, recipient, ambiguity) says which and what was wrong.
NO_PAYMENT_OF_AMOUNT = "no reference: no open payment asks exactly this amount"
NOT_BY_AMOUNT = "no reference and the store does not match by amount"
FOREIGN_REFERENCE = "the reference belongs to no open payment (closed or unknown)"


@dataclass(frozen=True, slots=True)
class OpenPayment:
    id: Any
    reference: str
    recipient: str          # the merchant's wallet
    asset: str
    mint: str | None        # None for SOL
    memo: str | None
    amount: int | None = None  # a unique-amount payment's amount_due; None for the others


@dataclass(frozen=True, slots=True)
class WatchedAccount:
    """An account paywatch watches: a store's wallet (SOL) or its associated token account."""
    wallet: str             # the merchant's wallet (the account itself for SOL)
    asset: str
    mint: str | None
    store_id: Any           # whose inbox gets what pays nothing
    by_amount: bool         # a store on this wallet matches referenceless transfers by amount


@dataclass(frozen=True)
class Finding:
    index: int              # the instruction's index (see INNER_BASE for inner ones)
    payment_id: Any         # None when the transfer pays no payment
    asset: str
    mint: str | None
    sender: str | None
    recipient: str
    amount: int             # base units that arrived (0 for rejected findings)
    memo: str | None
    reject_reason: str | None = None
    matched_by: str | None = None        # 'reference' or 'unique_amount' when it pays one
    via_program: bool = False            # an inner instruction (the value moved in a CPI)
    store_id: Any = None                 # the watched account's store, for unmatched ones
    unmatched_reason: str | None = None  # money arrived, paid nothing: the store's inbox
    sent: int = 0                        # the instruction's amount (what a unique amount asks)


@dataclass(frozen=True)
class _Transfer:
    program: str
    source: str             # the signing owner: the sender wallet (or program) of the value
    dest: str
    amount: int
    mint: str | None        # known for transferChecked; else from the destination's balance
    extra: tuple[str, ...]  # accounts after the instruction's own: references, signers


@dataclass(frozen=True)
class _Site:
    """One instruction where it runs: its index for the ledger, and where its memo would be."""
    index: int
    ix: dict[str, Any]
    before: dict[str, Any] | None   # the instruction right before it (see the memo rule)
    inner: bool


@dataclass
class _Hit:
    site: _Site
    transfer: _Transfer | None
    payment: OpenPayment | None = None
    reject: str | None = None
    matched_by: str | None = None
    dest: WatchedAccount | None = None
    unmatched: str | None = None


Lookup = Callable[[str], OpenPayment | None]
Watched = Callable[[str], WatchedAccount | None]
ByAmount = Callable[[str, str | None, int], OpenPayment | None]


def _unwatched(_account: str) -> WatchedAccount | None:
    return None


def _no_amounts(_wallet: str, _mint: str | None, _amount: int) -> OpenPayment | None:
    return None


def account_keys(tx: dict[str, Any]) -> list[str]:
    keys = list(tx["transaction"]["message"]["accountKeys"])
    loaded = (tx.get("meta") or {}).get("loadedAddresses") or {}
    return keys + list(loaded.get("writable", [])) + list(loaded.get("readonly", []))


def inner_index(outer: int, position: int) -> int:
    return (outer + 1) * INNER_BASE + position


def match_transaction(tx: dict[str, Any], lookup: Lookup, watched: Watched = _unwatched,
                      by_amount: ByAmount = _no_amounts) -> list[Finding]:
    """`lookup`: reference -> open payment; `watched`: account -> what it is, when paywatch
    watches it; `by_amount`: (wallet, mint, amount) -> the unique-amount payment asking it."""
    keys = account_keys(tx)
    meta = tx.get("meta") or {}
    signers = int(tx["transaction"]["message"].get("header", {})
                  .get("numRequiredSignatures", 1))
    sites = [(s, [keys[a] for a in s.ix["accounts"]]) for s in _sites(tx)]
    transfers = [_parse(keys[s.ix["programIdIndex"]], accounts, _data(s.ix))
                 for s, accounts in sites]
    # A program call that passes a reference on to the transfer it makes (a vault executing
    # the customer's transfer) mentions it too: only the transfer counts then.
    carried = {p.id for (_s, accounts), t in zip(sites, transfers, strict=True) if t
               for p in map(lookup, accounts) if p is not None}
    hits: list[_Hit] = []
    for (site, accounts), transfer in zip(sites, transfers, strict=True):
        payments = {p.id: p for p in map(lookup, accounts) if p is not None}
        if transfer is None:
            hit = _not_a_transfer(site, payments, carried)
        else:
            dest = _incoming(transfer, watched, meta)
            if payments:
                hit = _by_reference(site, transfer, payments, dest, meta, keys)
            elif dest is not None:
                hit = _by_amount(site, transfer, dest, by_amount,
                                 _foreign(transfer, keys, signers))
            else:
                hit = None
        if hit is not None:
            hits.append(hit)
    return _credit(hits, meta, keys)


def _sites(tx: dict[str, Any]) -> Iterator[_Site]:
    top = tx["transaction"]["message"]["instructions"]
    inner = {int(group["index"]): group["instructions"]
             for group in (tx.get("meta") or {}).get("innerInstructions") or []}
    for i, ix in enumerate(top):
        previous = top[i - 1] if i else None
        yield _Site(i, ix, previous, False)
        group = inner.get(i, [])
        for j, sub in enumerate(group):
            yield _Site(inner_index(i, j), sub, group[j - 1] if j else previous, True)


def _not_a_transfer(site: _Site, payments: dict[Any, OpenPayment],
                    carried: set[Any]) -> _Hit | None:
    orphans = [p for pid, p in payments.items() if pid not in carried]
    if not orphans:
        return None
    if len(orphans) > 1:
        return _Hit(site, None, reject=_ambiguous(len(orphans)))
    return _Hit(site, None, orphans[0],
                reject="the reference is on an instruction that is not a transfer")


def _ambiguous(count: int) -> str:
    return f"ambiguous: the transfer carries references of {count} payments"


def _incoming(transfer: _Transfer, watched: Watched,
              meta: dict[str, Any]) -> WatchedAccount | None:
    """The watched account this transfer put money into, if it did: the transaction succeeded,
    the instruction fits the account (SOL into a wallet, tokens into a token account), and the
    receiving wallet is not the one that signed (the merchant moving their own money)."""
    dest = watched(transfer.dest)
    if dest is None or meta.get("err") is not None or transfer.source == dest.wallet:
        return None
    if (dest.mint is None) != (transfer.program == SYSTEM):
        return None
    return dest


def _by_reference(site: _Site, transfer: _Transfer, payments: dict[Any, OpenPayment],
                  dest: WatchedAccount | None, meta: dict[str, Any], keys: list[str]) -> _Hit:
    problem: str | None
    payment: OpenPayment | None
    if len(payments) > 1:
        problem, payment = _ambiguous(len(payments)), None
    else:
        payment = next(iter(payments.values()))
        problem = _problem(payment, transfer, meta, keys, _memo(keys, site))
        if problem is None:
            return _Hit(site, transfer, payment, matched_by="reference")
    assert problem is not None
    if dest is not None:  # the money did arrive at an account of ours: the inbox
        about = f" (payment {payment.id})" if payment is not None else ""
        return _Hit(site, transfer, dest=dest, unmatched=problem + about)
    return _Hit(site, transfer, payment, reject=problem)


def _by_amount(site: _Site, transfer: _Transfer, dest: WatchedAccount, by_amount: ByAmount,
               foreign: bool) -> _Hit:
    if foreign:  # meant for a payment we do not watch: not for whoever asks the same amount
        return _Hit(site, transfer, dest=dest, unmatched=FOREIGN_REFERENCE)
    payment = by_amount(dest.wallet, dest.mint, transfer.amount)
    if payment is not None:
        return _Hit(site, transfer, payment, matched_by="unique_amount")
    return _Hit(site, transfer, dest=dest,
                unmatched=NO_PAYMENT_OF_AMOUNT if dest.by_amount else NOT_BY_AMOUNT)


def _foreign(transfer: _Transfer, keys: list[str], signers: int) -> bool:
    """Whether the transfer carries a reference (an extra account that does not sign: the
    Solana Pay way) that is none of our open payments'."""
    return any(keys.index(a) >= signers for a in transfer.extra)


def _data(ix: dict[str, Any]) -> bytes:
    return base58.b58decode(ix.get("data", ""))


def _parse(program: str, accounts: list[str], data: bytes) -> _Transfer | None:
    if program == SYSTEM and len(data) >= 12 and data[:4] == b"\x02\0\0\0" and len(accounts) >= 2:
        return _Transfer(program, accounts[0], accounts[1], _u64(data, 4), None,
                         tuple(accounts[2:]))
    if program in TOKEN_PROGRAMS and data[:1] == b"\x03" and len(data) >= 9 \
            and len(accounts) >= 3:
        return _Transfer(program, accounts[2], accounts[1], _u64(data, 1), None,
                         tuple(accounts[3:]))
    if program in TOKEN_PROGRAMS and data[:1] == b"\x0c" and len(data) >= 10 \
            and len(accounts) >= 4:
        return _Transfer(program, accounts[3], accounts[2], _u64(data, 1), accounts[1],
                         tuple(accounts[4:]))
    return None


def _u64(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 8], "little")


def _problem(payment: OpenPayment, transfer: _Transfer, meta: dict[str, Any],
             keys: list[str], memo: str | None) -> str | None:
    if meta.get("err") is not None:
        return f"transaction failed: {meta['err']}"
    if payment.mint is None:
        if transfer.program != SYSTEM:
            return "a token transfer for a SOL payment"
        if transfer.dest != payment.recipient:
            return f"wrong recipient: paid {transfer.dest}, expected {payment.recipient}"
    else:
        problem = _token_problem(payment, transfer, meta, keys)
        if problem:
            return problem
    if payment.memo is not None and memo != payment.memo:
        return f"memo mismatch: expected {payment.memo!r}"
    return None


def _token_problem(payment: OpenPayment, transfer: _Transfer, meta: dict[str, Any],
                   keys: list[str]) -> str | None:
    if transfer.program not in TOKEN_PROGRAMS:
        return "a SOL transfer for a token payment"
    mint = transfer.mint or _balance_mint(meta, keys, transfer.dest)
    if mint is None or mint != payment.mint:
        return f"wrong mint: paid {mint}, expected {payment.mint}"
    expected = str(get_associated_token_address(Pubkey.from_string(payment.recipient),
                                                Pubkey.from_string(mint),
                                                Pubkey.from_string(transfer.program)))
    if transfer.dest != expected:
        return f"wrong recipient: paid token account {transfer.dest}, expected {expected}"
    return None


def _memo(keys: list[str], site: _Site) -> str | None:
    """The memo instruction right before the transfer (see the module's docstring)."""
    before = site.before
    if before is None or keys[before["programIdIndex"]] not in MEMO_PROGRAMS:
        return None
    return _data(before).decode("utf-8", "replace")


def _balance_mint(meta: dict[str, Any], keys: list[str], account: str) -> str | None:
    for balance in meta.get("postTokenBalances") or []:
        if keys[balance["accountIndex"]] == account:
            return balance["mint"]
    return None


def _token_amount(balances: list[dict[str, Any]] | None, keys: list[str], account: str) -> int:
    for balance in balances or []:
        if keys[balance["accountIndex"]] == account:
            return int(balance["uiTokenAmount"]["amount"])
    return 0  # an account created in this transaction has no pre-balance


def _delta(meta: dict[str, Any], keys: list[str], transfer: _Transfer) -> int:
    if transfer.program == SYSTEM:
        i = keys.index(transfer.dest)
        return int(meta["postBalances"][i]) - int(meta["preBalances"][i])
    return (_token_amount(meta.get("postTokenBalances"), keys, transfer.dest)
            - _token_amount(meta.get("preTokenBalances"), keys, transfer.dest))


def _credit(hits: list[_Hit], meta: dict[str, Any], keys: list[str]) -> list[Finding]:
    """What arrived per instruction: the instruction's amount, scaled down (floor) when the
    destination received less in total than the instructions say. A matched transfer of
    which nothing arrived is rejected; an unmatched one moved nothing: not recorded."""
    credited = [h.transfer for h in hits if h.reject is None and h.transfer is not None]
    sent: dict[str, int] = {}
    for t in credited:
        sent[t.dest] = sent.get(t.dest, 0) + t.amount
    out = []
    for hit in hits:
        transfer, amount, reject = hit.transfer, 0, hit.reject
        if reject is None and transfer is not None:
            arrived = max(0, _delta(meta, keys, transfer))
            total = sent[transfer.dest]
            amount = transfer.amount if arrived >= total else transfer.amount * arrived // total
            if amount == 0:
                if hit.unmatched is not None:
                    continue
                reject = "nothing arrived at the recipient"
        out.append(_finding(hit, transfer, amount, reject, keys))
    return out


def _finding(hit: _Hit, transfer: _Transfer | None, amount: int, reject: str | None,
             keys: list[str]) -> Finding:
    payment, dest = hit.payment, hit.dest
    if dest is not None:  # unmatched: the watched account says what arrived, and whose
        asset, mint = dest.asset, dest.mint
    else:
        asset, mint = (payment.asset, payment.mint) if payment else ("?", None)
    return Finding(
        index=hit.site.index, payment_id=payment.id if payment and dest is None else None,
        asset=asset, mint=mint, sender=transfer.source if transfer else None,
        recipient=transfer.dest if transfer else (payment.recipient if payment else "?"),
        amount=amount, memo=_memo(keys, hit.site) if transfer else None,
        reject_reason=reject, matched_by=None if reject else hit.matched_by,
        via_program=hit.site.inner, store_id=dest.store_id if dest else None,
        unmatched_reason=hit.unmatched, sent=transfer.amount if transfer else 0)
