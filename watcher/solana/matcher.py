"""Matching a Solana transaction to open payments, per transfer instruction.

Input is a getTransaction result in `json` encoding (account indices and raw data, so nothing
depends on a node's parser). For every top-level instruction whose accounts include the
reference of an open payment, validate at least as strictly as Solana Pay's validateTransfer:
the transaction succeeded; the instruction is a transfer (System transfer for SOL, SPL Token or
Token-2022 transfer/transferChecked for tokens) into the payment's recipient (the wallet, or the
recipient's associated token account for the mint); the mint matches; the memo instruction right
before it matches when the payment asked for one. The amount credited is what arrived: the
instruction's amount, cut to the recipient's balance delta when the deltas are smaller (a
Token-2022 transfer fee). A transfer carrying references of two payments is ambiguous and
rejected; a transfer that mentions a reference but is wrong is rejected with the reason."""

from __future__ import annotations

from collections.abc import Callable
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


@dataclass(frozen=True, slots=True)
class OpenPayment:
    id: Any
    reference: str
    recipient: str          # the merchant's wallet
    asset: str
    mint: str | None        # None for SOL
    memo: str | None


@dataclass(frozen=True)
class Finding:
    index: int              # the instruction's index in the transaction
    payment_id: Any         # None when the transfer was ambiguous
    asset: str
    mint: str | None
    sender: str | None
    recipient: str
    amount: int             # base units that arrived (0 for rejected findings)
    memo: str | None
    reject_reason: str | None = None


@dataclass(frozen=True)
class _Transfer:
    program: str
    source: str
    dest: str
    amount: int
    mint: str | None        # known for transferChecked; else from the destination's balance


Lookup = Callable[[str], OpenPayment | None]


def account_keys(tx: dict[str, Any]) -> list[str]:
    keys = list(tx["transaction"]["message"]["accountKeys"])
    loaded = (tx.get("meta") or {}).get("loadedAddresses") or {}
    return keys + list(loaded.get("writable", [])) + list(loaded.get("readonly", []))


def match_transaction(tx: dict[str, Any], lookup: Lookup) -> list[Finding]:
    keys = account_keys(tx)
    instructions = tx["transaction"]["message"]["instructions"]
    meta = tx.get("meta") or {}
    found: list[tuple[int, OpenPayment | None, _Transfer | None, str | None]] = []
    for i, ix in enumerate(instructions):
        accounts = [keys[a] for a in ix["accounts"]]
        payments = {p.id: p for p in (lookup(a) for a in accounts) if p is not None}
        if not payments:
            continue
        transfer = _parse(keys[ix["programIdIndex"]], accounts, _data(ix))
        if len(payments) > 1:
            found.append((i, None, transfer, "ambiguous: the transfer carries references of "
                                             f"{len(payments)} payments"))
            continue
        payment = next(iter(payments.values()))
        reason = _problem(payment, transfer, meta, keys, instructions, i)
        found.append((i, payment, transfer, reason))
    return _credit(found, meta, keys)


def _data(ix: dict[str, Any]) -> bytes:
    return base58.b58decode(ix.get("data", ""))


def _parse(program: str, accounts: list[str], data: bytes) -> _Transfer | None:
    if program == SYSTEM and len(data) >= 12 and data[:4] == b"\x02\0\0\0" and len(accounts) >= 2:
        return _Transfer(program, accounts[0], accounts[1], _u64(data, 4), None)
    if program in TOKEN_PROGRAMS and data[:1] == b"\x03" and len(data) >= 9 \
            and len(accounts) >= 3:
        return _Transfer(program, accounts[2], accounts[1], _u64(data, 1), None)
    if program in TOKEN_PROGRAMS and data[:1] == b"\x0c" and len(data) >= 10 \
            and len(accounts) >= 4:
        return _Transfer(program, accounts[3], accounts[2], _u64(data, 1), accounts[1])
    return None


def _u64(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 8], "little")


def _problem(payment: OpenPayment, transfer: _Transfer | None, meta: dict[str, Any],
             keys: list[str], instructions: list[dict[str, Any]], i: int) -> str | None:
    if meta.get("err") is not None:
        return f"transaction failed: {meta['err']}"
    if transfer is None:
        return "the reference is on an instruction that is not a transfer"
    if payment.mint is None:
        if transfer.program != SYSTEM:
            return "a token transfer for a SOL payment"
        if transfer.dest != payment.recipient:
            return f"wrong recipient: paid {transfer.dest}, expected {payment.recipient}"
    else:
        problem = _token_problem(payment, transfer, meta, keys)
        if problem:
            return problem
    if payment.memo is not None and _memo_before(keys, instructions, i) != payment.memo:
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


def _memo_before(keys: list[str], instructions: list[dict[str, Any]], i: int) -> str | None:
    if i == 0 or keys[instructions[i - 1]["programIdIndex"]] not in MEMO_PROGRAMS:
        return None
    return _data(instructions[i - 1]).decode("utf-8", "replace")


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


def _credit(found: list[tuple[int, OpenPayment | None, _Transfer | None, str | None]],
            meta: dict[str, Any], keys: list[str]) -> list[Finding]:
    """What arrived per instruction: the instruction's amount, scaled down (floor) when the
    destination received less in total than the instructions say."""
    valid = [(i, t) for i, p, t, r in found if r is None and t is not None]
    sent: dict[str, int] = {}
    for _i, t in valid:
        sent[t.dest] = sent.get(t.dest, 0) + t.amount
    out = []
    for i, payment, transfer, reason in found:
        amount = 0
        if reason is None and transfer is not None:
            arrived = max(0, _delta(meta, keys, transfer))
            total = sent[transfer.dest]
            amount = transfer.amount if arrived >= total else transfer.amount * arrived // total
            if amount == 0:
                reason = "nothing arrived at the recipient"
        out.append(Finding(
            index=i, payment_id=payment.id if payment else None,
            asset=payment.asset if payment else "?", mint=payment.mint if payment else None,
            sender=transfer.source if transfer else None,
            recipient=transfer.dest if transfer else (payment.recipient if payment else "?"),
            amount=amount, memo=None, reject_reason=reason))
    return out
