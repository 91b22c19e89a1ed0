"""Address lookup tables: the addresses a v0 message loads from them, in the order the runtime
appends them to the static keys (every table's writable indexes, then every table's readonly
ones). Transaction meta reports them as `loadedAddresses`, and balances cover them."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.address_lookup_table_account import ID as LOOKUP_TABLE_PROGRAM
from solders.address_lookup_table_account import (
    AddressLookupTable,
    derive_lookup_table_address,
)
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM


@dataclass(frozen=True)
class LoadedAddresses:
    writable: list[Pubkey] = field(default_factory=list)
    readonly: list[Pubkey] = field(default_factory=list)

    def json(self) -> dict[str, list[str]]:
        return {"writable": [str(k) for k in self.writable],
                "readonly": [str(k) for k in self.readonly]}


class LookupFailure(Exception):
    """The TransactionError a bank answers when a table cannot be used (`reason`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def resolve_lookups(message: Any,
                    get_account: Callable[[Pubkey], Account | None]) -> LoadedAddresses:
    lookups = getattr(message, "address_table_lookups", None) or []
    writable: list[Pubkey] = []
    readonly: list[Pubkey] = []
    for lookup in lookups:
        addresses = _table(lookup.account_key, get_account)
        try:
            writable += [addresses[i] for i in bytes(lookup.writable_indexes)]
            readonly += [addresses[i] for i in bytes(lookup.readonly_indexes)]
        except IndexError:
            raise LookupFailure("InvalidAddressLookupTableIndex") from None
    return LoadedAddresses(writable, readonly)


def _table(key: Pubkey, get_account: Callable[[Pubkey], Account | None]) -> list[Pubkey]:
    account = get_account(key)
    if account is None or account.lamports == 0:
        raise LookupFailure("AddressLookupTableNotFound")
    if account.owner != LOOKUP_TABLE_PROGRAM:
        raise LookupFailure("InvalidAddressLookupTableOwner")
    try:
        return list(AddressLookupTable.deserialize(bytes(account.data)).addresses)
    except ValueError:
        raise LookupFailure("InvalidAddressLookupTableData") from None


# ----- building tables (the wallet uses these; the program itself runs in LiteSVM) ---------

def create_table(authority: Pubkey, payer: Pubkey,
                 recent_slot: int) -> tuple[Pubkey, Instruction]:
    """CreateLookupTable (bincode: u32 tag 0, u64 recent_slot, u8 bump). `recent_slot` must
    be in the SlotHashes sysvar, i.e. a slot the chain produced recently."""
    table, bump = derive_lookup_table_address(authority, recent_slot)
    data = struct.pack("<IQB", 0, recent_slot, bump)
    return table, Instruction(LOOKUP_TABLE_PROGRAM, data, [
        AccountMeta(table, is_signer=False, is_writable=True),
        AccountMeta(authority, is_signer=True, is_writable=False),
        AccountMeta(payer, is_signer=True, is_writable=True),
        AccountMeta(SYSTEM_PROGRAM, is_signer=False, is_writable=False)])


def extend_table(table: Pubkey, authority: Pubkey, payer: Pubkey,
                 addresses: list[Pubkey]) -> Instruction:
    """ExtendLookupTable (bincode: u32 tag 2, u64 count, the addresses)."""
    data = struct.pack("<IQ", 2, len(addresses)) + b"".join(bytes(a) for a in addresses)
    return Instruction(LOOKUP_TABLE_PROGRAM, data, [
        AccountMeta(table, is_signer=False, is_writable=True),
        AccountMeta(authority, is_signer=True, is_writable=False),
        AccountMeta(payer, is_signer=True, is_writable=True),
        AccountMeta(SYSTEM_PROGRAM, is_signer=False, is_writable=False)])
