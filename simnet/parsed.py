"""`jsonParsed` instructions for the programs a payment touches: System, SPL Token (and
Token-2022), Associated Token Account, Memo. Others come back partially decoded, as a real
node does for programs it has no parser for."""

from __future__ import annotations

from typing import Any

import base58
from solders.pubkey import Pubkey

from simnet.tokens import TOKEN_PROGRAMS, ui_amount

SYSTEM = Pubkey.from_string("11111111111111111111111111111111")
ATA = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
MEMO = (Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"),
        Pubkey.from_string("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"))


def _u64(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 8], "little")


def _system(accounts: list[str], data: bytes) -> tuple[str, dict[str, Any]] | None:
    tag = int.from_bytes(data[:4], "little") if len(data) >= 4 else -1
    if tag == 2 and len(data) >= 12 and len(accounts) >= 2:
        return "transfer", {"source": accounts[0], "destination": accounts[1],
                            "lamports": _u64(data, 4)}
    if tag == 0 and len(data) >= 52 and len(accounts) >= 2:
        return "createAccount", {"source": accounts[0], "newAccount": accounts[1],
                                 "lamports": _u64(data, 4), "space": _u64(data, 12),
                                 "owner": str(Pubkey(data[20:52]))}
    if tag == 1 and len(data) >= 36 and accounts:
        return "assign", {"account": accounts[0], "owner": str(Pubkey(data[4:36]))}
    if tag == 8 and len(data) >= 12 and accounts:
        return "allocate", {"account": accounts[0], "space": _u64(data, 4)}
    return None


def _token(accounts: list[str], data: bytes) -> tuple[str, dict[str, Any]] | None:
    tag = data[0] if data else -1
    if tag == 3 and len(data) >= 9 and len(accounts) >= 3:
        return "transfer", {"source": accounts[0], "destination": accounts[1],
                            "authority": accounts[2], "amount": str(_u64(data, 1))}
    if tag == 12 and len(data) >= 10 and len(accounts) >= 4:
        return "transferChecked", {"source": accounts[0], "mint": accounts[1],
                                   "destination": accounts[2], "authority": accounts[3],
                                   "tokenAmount": ui_amount(_u64(data, 1), data[9])}
    if tag == 7 and len(data) >= 9 and len(accounts) >= 3:
        return "mintTo", {"mint": accounts[0], "account": accounts[1],
                          "mintAuthority": accounts[2], "amount": str(_u64(data, 1))}
    if tag == 20 and len(data) >= 34 and accounts:
        return "initializeMint2", {"mint": accounts[0], "decimals": data[1],
                                   "mintAuthority": str(Pubkey(data[2:34]))}
    if tag == 18 and len(data) >= 33 and len(accounts) >= 2:
        return "initializeAccount3", {"account": accounts[0], "mint": accounts[1],
                                      "owner": str(Pubkey(data[1:33]))}
    return _token_housekeeping(tag, accounts, data)


def _token_housekeeping(tag: int, accounts: list[str],
                        data: bytes) -> tuple[str, dict[str, Any]] | None:
    """The instructions that create, size and close token accounts (ATA creation runs
    getAccountDataSize, initializeImmutableOwner and initializeAccount3 as inner ones)."""
    if tag == 1 and len(accounts) >= 4:
        return "initializeAccount", {"account": accounts[0], "mint": accounts[1],
                                     "owner": accounts[2], "rentSysvar": accounts[3]}
    if tag == 8 and len(data) >= 9 and len(accounts) >= 3:
        return "burn", {"account": accounts[0], "mint": accounts[1],
                        "authority": accounts[2], "amount": str(_u64(data, 1))}
    if tag == 9 and len(accounts) >= 3:
        return "closeAccount", {"account": accounts[0], "destination": accounts[1],
                                "owner": accounts[2]}
    if tag == 17 and accounts:
        return "syncNative", {"account": accounts[0]}
    if tag == 21 and accounts:
        return "getAccountDataSize", {"mint": accounts[0]}
    if tag == 22 and accounts:
        return "initializeImmutableOwner", {"account": accounts[0]}
    return None


def _ata(accounts: list[str], data: bytes) -> tuple[str, dict[str, Any]] | None:
    if len(accounts) < 6 or (data and data[0] not in (0, 1)):
        return None
    kind = "createIdempotent" if data[:1] == b"\x01" else "create"
    return kind, {"source": accounts[0], "account": accounts[1], "wallet": accounts[2],
                  "mint": accounts[3], "systemProgram": accounts[4],
                  "tokenProgram": accounts[5]}


def parse_instruction(program: Pubkey, accounts: list[Pubkey], data: bytes) -> dict[str, Any]:
    names = [str(a) for a in accounts]
    if program in MEMO:
        return {"parsed": data.decode("utf-8", "replace"), "program": "spl-memo",
                "programId": str(program), "stackHeight": None}
    parser, label = {SYSTEM: (_system, "system"), ATA: (_ata, "spl-associated-token-account"),
                     TOKEN_PROGRAMS[0]: (_token, "spl-token"),
                     TOKEN_PROGRAMS[1]: (_token, "spl-token-2022")}.get(program, (None, ""))
    parsed = parser(names, data) if parser else None
    if parsed is None:
        return {"accounts": names, "data": base58.b58encode(data).decode(),
                "programId": str(program), "stackHeight": None}
    kind, info = parsed
    return {"parsed": {"info": info, "type": kind}, "program": label,
            "programId": str(program), "stackHeight": None}
