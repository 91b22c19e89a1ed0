"""Open payments packed into flat buffers: a million of them in ~75 bytes each, where one
Python object per payment (a dataclass, its UUID, its reference string, two dict entries) held
~400, and the process's RSS grew by ~900 a payment (bench/scale.py memory).

Per payment, in slot order: its reference as the 32 bytes of the public key (`_keys`), its id
as 16 bytes (`_ids`), a 4-byte number of its (recipient, asset, mint) triple (a million
payments share a handful: each triple is stored once), and one byte of flags. Two open-addressing
tables of slot numbers (4 bytes an entry, linear probing, at most 3/4 full) find a slot by
reference and by payment id. The rare extras live in small dicts by slot: a memo, a unique
amount, a reference that is not a canonical base58 public key (tests and old rows use such).

`get` builds an `OpenPayment` on demand, so the matcher sees the same value as before."""

from __future__ import annotations

import re
import sys
import uuid
from array import array
from collections.abc import Iterator

from solders.pubkey import Pubkey

from watcher.solana.matcher import OpenPayment

KEY = 32   # bytes of a reference (an ed25519 public key)
ID = 16    # bytes of a payment id (a UUID)
EMPTY, GONE = -1, -2   # table entries that hold no slot: never used, and removed

LIVE, OPEN, SEEN = 1, 2, 4   # flags: slot in use; status in OPEN_PAYMENT; read by this reload
# Slots in use that the current reload has not read (flags LIVE or LIVE|OPEN, no SEEN).
_UNSEEN = re.compile(rb"[\x01\x03]")
_FORGET_SEEN = bytes(b & ~SEEN for b in range(256))

Triple = tuple[str, str, str | None]   # (recipient, asset, mint or None for SOL)


def _key(reference: str) -> bytes | None:
    """The 32 bytes of `reference` when it is a canonical base58 public key, else None."""
    try:
        pubkey = Pubkey.from_string(reference)
    except ValueError:
        return None
    # Exactly one string per key, so a lookup can never meet a payment under another spelling.
    return bytes(pubkey) if str(pubkey) == reference else None


class PackedPayments:
    def __init__(self) -> None:
        self._keys = bytearray()
        self._ids = bytearray()
        self._triple_of = array("I")
        self._flags = bytearray()
        self._free = array("i")            # slots to reuse
        self._live = 0
        self._by_key = array("i", [EMPTY]) * 16
        self._by_id = array("i", [EMPTY]) * 16
        self._filled = [0, 0]              # entries not EMPTY (slots and GONE) per table
        self._triples: list[Triple] = []
        self._triple_no: dict[Triple, int] = {}
        self._memos: dict[int, str] = {}
        self._amounts: dict[int, int] = {}
        self._odd: dict[str, int] = {}     # non-canonical reference -> slot
        self._odd_of: dict[int, str] = {}  # and back
        # Unique-amount payments: (wallet, mint) -> amount -> slot.
        self._by_amount: dict[tuple[str, str | None], dict[int, int]] = {}

    def __len__(self) -> int:
        return self._live

    # ----- reading ----------------------------------------------------------------------------

    def get(self, reference: str) -> OpenPayment | None:
        slot = self._slot_of_reference(reference)
        return None if slot < 0 else self._payment(slot, reference)

    def get_by_amount(self, wallet: str, mint: str | None, amount: int) -> OpenPayment | None:
        slot = self._by_amount.get((wallet, mint), {}).get(amount)
        return None if slot is None else self._payment(slot, self._reference(slot))

    def references(self) -> Iterator[str]:
        """Every indexed reference (tests and diagnostics)."""
        for slot in self._slots():
            yield self._reference(slot)

    def nbytes(self) -> int:
        """Bytes held: the buffers and tables, and the containers of the extras (their few
        strings and ints are not counted)."""
        return sum(sys.getsizeof(b) for b in (
            self._keys, self._ids, self._triple_of, self._flags, self._free, self._by_key,
            self._by_id, self._memos, self._amounts, self._odd, self._odd_of,
            *self._by_amount.values()))

    def _payment(self, slot: int, reference: str) -> OpenPayment:
        recipient, asset, mint = self._triples[self._triple_of[slot]]
        return OpenPayment(uuid.UUID(bytes=self._id_at(slot)),
                           reference, recipient, asset, mint, self._memos.get(slot),
                           self._amounts.get(slot))

    def _reference(self, slot: int) -> str:
        odd = self._odd_of.get(slot)
        if odd is not None:
            return odd
        return str(Pubkey(self._key_at(slot)))

    def _key_at(self, slot: int) -> bytes:
        return bytes(self._keys[slot * KEY:slot * KEY + KEY])

    def _id_at(self, slot: int) -> bytes:
        return bytes(self._ids[slot * ID:slot * ID + ID])

    def _slot_of_reference(self, reference: str) -> int:
        key = _key(reference)
        if key is None:
            return self._odd.get(reference, -1)
        return self._find(self._by_key, self._keys, KEY, key)[0]

    @staticmethod
    def _find(table: array[int], store: bytearray, width: int, key: bytes) -> tuple[int, int]:
        """(slot, table position): the slot holding `key` (-1 if none) and where it is, or
        where it would go."""
        mask = len(table) - 1
        at = hash(key) & mask
        free = -1
        while True:
            slot = table[at]
            if slot == EMPTY:
                return -1, (at if free < 0 else free)
            if slot == GONE:
                if free < 0:
                    free = at
            elif store[slot * width:slot * width + width] == key:
                return slot, at
            at = (at + 1) & mask

    # ----- writing ----------------------------------------------------------------------------

    def put(self, reference: str, payment_id: uuid.UUID, triple: Triple, memo: str | None,
            amount: int | None, is_open: bool) -> None:
        """Index (or re-index) the payment with `reference`; it counts as read by a reload
        under way."""
        slot = self._slot_of_reference(reference)
        if slot < 0 or self._id_at(slot) != payment_id.bytes:
            if slot >= 0:
                self._remove(slot)
            other = self._find(self._by_id, self._ids, ID, payment_id.bytes)[0]
            if other >= 0:  # the same payment under another reference: only one stays
                self._remove(other)
            slot = self._add(reference, payment_id.bytes)
        else:
            self._drop_amount(slot)
        self._triple_of[slot] = self._triple(triple)
        self._flags[slot] = LIVE | SEEN | (OPEN if is_open else 0)
        if memo is None:
            self._memos.pop(slot, None)
        else:
            self._memos[slot] = memo
        if amount is None:
            self._amounts.pop(slot, None)
        else:
            self._amounts[slot] = amount
        self._add_amount(slot, triple, is_open)

    def remove_id(self, payment_id: uuid.UUID) -> bool:
        slot = self._find(self._by_id, self._ids, ID, payment_id.bytes)[0]
        if slot >= 0:
            self._remove(slot)
        return slot >= 0

    def remove_reference(self, reference: str) -> bool:
        slot = self._slot_of_reference(reference)
        if slot >= 0:
            self._remove(slot)
        return slot >= 0

    def begin_reload(self) -> None:
        """Every payment counts as not read again until `put` says otherwise."""
        self._flags = self._flags.translate(_FORGET_SEEN)

    def end_reload(self) -> int:
        """Drop the payments the reload did not read (closed since); how many."""
        unseen = [m.start() for m in _UNSEEN.finditer(self._flags)]
        for slot in unseen:
            self._remove(slot)
        return len(unseen)

    def _add(self, reference: str, id_bytes: bytes) -> int:
        if (max(self._filled) + 1) * 4 > len(self._by_key) * 3:
            self._rehash(self._live + 1)
        key = _key(reference)
        if self._free:
            slot = self._free.pop()
            self._ids[slot * ID:slot * ID + ID] = id_bytes
            self._keys[slot * KEY:slot * KEY + KEY] = key or bytes(KEY)
        else:
            slot = len(self._flags)
            self._ids += id_bytes
            self._keys += key or bytes(KEY)
            self._triple_of.append(0)
            self._flags.append(0)
        if key is None:
            self._odd[reference] = slot
            self._odd_of[slot] = reference
        else:
            self._place(0, key, slot)
        self._place(1, id_bytes, slot)
        self._live += 1
        return slot

    def _place(self, which: int, key: bytes, slot: int) -> None:
        """Put `slot` in the table by reference (0) or by id (1)."""
        table, store, width = ((self._by_key, self._keys, KEY) if which == 0
                               else (self._by_id, self._ids, ID))
        at = self._find(table, store, width, key)[1]
        if table[at] == EMPTY:
            self._filled[which] += 1
        table[at] = slot

    def _remove(self, slot: int) -> None:
        self._drop_amount(slot)
        odd = self._odd_of.pop(slot, None)
        if odd is not None:
            del self._odd[odd]
        else:
            self._by_key[self._find(self._by_key, self._keys, KEY, self._key_at(slot))[1]] = GONE
        self._by_id[self._find(self._by_id, self._ids, ID, self._id_at(slot))[1]] = GONE
        self._memos.pop(slot, None)
        self._amounts.pop(slot, None)
        self._flags[slot] = 0
        self._free.append(slot)
        self._live -= 1

    def _rehash(self, live: int) -> None:
        """New tables at most half full for `live` payments, without the GONE entries (they
        grow to 3/4 full before the next: 11-16 bytes a payment for both)."""
        size = 16
        while size < live * 2:
            size *= 2
        self._by_key = array("i", [EMPTY]) * size
        self._by_id = array("i", [EMPTY]) * size
        self._filled = [0, 0]
        for slot in self._slots():
            if slot not in self._odd_of:
                self._place(0, self._key_at(slot), slot)
            self._place(1, self._id_at(slot), slot)

    def _slots(self) -> Iterator[int]:
        flags = self._flags
        return (slot for slot in range(len(flags)) if flags[slot] & LIVE)

    def _triple(self, triple: Triple) -> int:
        number = self._triple_no.get(triple)
        if number is None:
            number = self._triple_no[triple] = len(self._triples)
            self._triples.append(triple)
        return number

    def _add_amount(self, slot: int, triple: Triple, is_open: bool) -> None:
        """Amounts are unique among watched payments (db/payments.taken_unique_amounts); should
        two ever share one, the open payment wins over an expired one (EVM's OPEN_FIRST)."""
        amount = self._amounts.get(slot)
        if amount is None:
            return
        amounts = self._by_amount.setdefault((triple[0], triple[2]), {})
        if is_open or amount not in amounts:
            amounts[amount] = slot

    def _drop_amount(self, slot: int) -> None:
        amount = self._amounts.get(slot)
        if amount is None:
            return
        recipient, _asset, mint = self._triples[self._triple_of[slot]]
        amounts = self._by_amount.get((recipient, mint), {})
        if amounts.get(amount) == slot:
            del amounts[amount]
