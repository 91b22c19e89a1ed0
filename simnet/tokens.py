"""SPL Token and Token-2022 account layouts, read straight from account data: the balances in
transaction meta, jsonParsed account views, and getTokenAccountBalance all come from here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
ACCOUNT_LEN, MINT_LEN = 165, 82
STATES = {0: "uninitialized", 1: "initialized", 2: "frozen"}


def is_token_account(account: Account | None) -> bool:
    # Token-2022 accounts with extensions are longer; byte 165 marks the account type (2).
    return (account is not None and account.owner in TOKEN_PROGRAMS
            and (len(account.data) == ACCOUNT_LEN
                 or (len(account.data) > ACCOUNT_LEN and account.data[ACCOUNT_LEN] == 2)))


def is_mint(account: Account | None) -> bool:
    return (account is not None and account.owner in TOKEN_PROGRAMS
            and (len(account.data) == MINT_LEN
                 or (len(account.data) > ACCOUNT_LEN and account.data[ACCOUNT_LEN] == 1)))


def token_account_fields(data: bytes) -> dict[str, Any]:
    return {"mint": Pubkey(data[0:32]), "owner": Pubkey(data[32:64]),
            "amount": int.from_bytes(data[64:72], "little"), "state": STATES.get(data[108], "?")}


def mint_fields(data: bytes) -> dict[str, Any]:
    authority = Pubkey(data[4:36]) if data[0:4] == b"\x01\0\0\0" else None
    freeze = Pubkey(data[50:82]) if data[46:50] == b"\x01\0\0\0" else None
    return {"mintAuthority": str(authority) if authority else None,
            "supply": int.from_bytes(data[36:44], "little"), "decimals": data[44],
            "isInitialized": bool(data[45]),
            "freezeAuthority": str(freeze) if freeze else None}


def ui_amount(amount: int, decimals: int) -> dict[str, Any]:
    """The RPC's uiTokenAmount. uiAmount is a float in real answers: kept for fidelity only."""
    text = _ui_string(amount, decimals)
    return {"amount": str(amount), "decimals": decimals,
            "uiAmount": float(text) if amount else 0.0, "uiAmountString": text}


def _ui_string(amount: int, decimals: int) -> str:
    whole, frac = divmod(amount, 10**decimals) if decimals else (amount, 0)
    if not frac:
        return str(whole)
    return f"{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"


def decimals_of(mint: Pubkey, get_account: Callable[[Pubkey], Account | None]) -> int:
    account = get_account(mint)
    return account.data[44] if account is not None and is_mint(account) else 0


def token_balances(keys: list[Pubkey], accounts: dict[Pubkey, Account | None],
                   get_account: Callable[[Pubkey], Account | None]) -> list[dict[str, Any]]:
    """meta.preTokenBalances / postTokenBalances: one entry per token account in the keys.
    An account that does not exist yet (created in this transaction) has no entry."""
    out = []
    for index, key in enumerate(keys):
        account = accounts.get(key)
        if not is_token_account(account):
            continue
        assert account is not None
        fields = token_account_fields(bytes(account.data))
        out.append({"accountIndex": index, "mint": str(fields["mint"]),
                    "owner": str(fields["owner"]), "programId": str(account.owner),
                    "uiTokenAmount": ui_amount(fields["amount"],
                                               decimals_of(fields["mint"], get_account))})
    return out
