"""The simnet ledger: LiteSVM executes transactions for real; this class adds what a validator
has and LiteSVM does not: slots and blocks, commitment levels, a signature index per address,
account versions per slot (so queries honour their commitment), blockhash validity, the
SlotHashes and Clock sysvars a real bank keeps, address lookup tables resolved for the
transaction meta, and the faults tests need (a dead-fork drop, stalled finalization).

Commitment model: slot 0 is genesis (finalized from the start); a transaction lands
`processed` in the current slot; it is `confirmed` once `confirm_depth` more slots exist and
`finalized` once `finalize_depth` more exist."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.clock import Clock
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata

from simnet.lookup import LoadedAddresses, LookupFailure, resolve_lookups
from simnet.tokens import decimals_of, token_balances

COMMITMENTS = ("processed", "confirmed", "finalized")
BLOCKHASH_VALID_SLOTS = 150  # MAX_PROCESSING_AGE
SLOT_HASHES_KEPT = 512       # the SlotHashes sysvar's length
GENESIS_SLOT = 0
LAMPORTS_PER_SOL = 1_000_000_000
# Errors a validator refuses before a transaction reaches a block (no fee, no signature kept).
REFUSED = ("BlockhashNotFound", "AlreadyProcessed", "SignatureFailure", "AccountNotFound",
           "InsufficientFundsForFee", "SanitizeFailure", "AccountInUse", "AccountLoadedTwice",
           "AddressLookupTableNotFound", "InvalidAddressLookupTableIndex",
           "InvalidAddressLookupTableOwner", "InvalidAddressLookupTableData",
           "InvalidAccountForFee", "ProgramAccountNotFound")


class SendError(Exception):
    """A transaction the node refuses outright; `reason` names the TransactionError."""

    def __init__(self, reason: str, logs: list[str] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.logs = reason, logs or []


@dataclass
class TxRecord:
    signature: str
    slot: int
    block_time: int
    tx: VersionedTransaction
    account_keys: list[Pubkey]  # static keys, then loaded writable, then loaded readonly
    err: Any  # a solders TransactionError, or None
    fee: int
    logs: list[str]
    inner_instructions: list[Any]
    compute_units: int
    pre_balances: list[int]
    post_balances: list[int]
    pre_token_balances: list[dict[str, Any]]
    post_token_balances: list[dict[str, Any]]
    memo: str | None
    pre_accounts: dict[Pubkey, Account | None] = field(default_factory=dict)
    loaded: LoadedAddresses = field(default_factory=LoadedAddresses)
    seq: int = 0                     # execution order, across slots
    changed: frozenset[Pubkey] = frozenset()  # the accounts this transaction wrote


@dataclass
class Block:
    slot: int
    parent_slot: int
    blockhash: Hash
    previous_blockhash: Hash
    block_time: int
    block_height: int
    signatures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Version:
    """One state of an account: written by transaction `seq` in `slot` (seq -1: before any)."""
    slot: int
    seq: int
    account: Account | None


Listener = Callable[[str, Any], None]  # (event kind, payload)


class Ledger:
    def __init__(self, confirm_depth: int = 1, finalize_depth: int = 32,
                 clock: Callable[[], float] = time.time) -> None:
        # simnet checks blockhashes, replays and signatures itself (Ledger.check), as a
        # leader does before executing; LiteSVM then only executes. That also lets
        # simulateTransaction run unsigned transactions, as a node's does without sigVerify.
        self.svm = LiteSVM().with_blockhash_check(False).with_transaction_history(0) \
            .with_sigverify(False)
        self.confirm_depth, self.finalize_depth, self.clock = confirm_depth, finalize_depth, clock
        self.finalization_stalled = False
        self.slot = GENESIS_SLOT
        self.finalized_slot = GENESIS_SLOT
        self.txs: dict[str, TxRecord] = {}
        self.by_address: dict[Pubkey, list[str]] = {}
        self.blocks: dict[int, Block] = {}
        self.blockhashes: dict[Hash, int] = {}
        self.versions: dict[Pubkey, list[Version]] = {}
        self.listeners: list[Listener] = []
        self._seq = itertools.count()
        self.faucet = Keypair()
        self.svm.set_account(self.faucet.pubkey(), Account(
            lamports=500_000_000 * LAMPORTS_PER_SOL, data=b"", owner=Pubkey.default(),
            executable=False, rent_epoch=0))
        self._open_block(parent=GENESIS_SLOT, previous=Hash.default(), height=0)
        self.slot += 1  # genesis is closed at once; slot 1 is the first that takes transactions
        self._open_block(parent=GENESIS_SLOT, previous=self.blocks[GENESIS_SLOT].blockhash,
                         height=1)

    # ----- slots and commitment -------------------------------------------------------------

    def _open_block(self, parent: int, previous: Hash, height: int) -> None:
        self.svm.warp_to_slot(self.slot)
        self.svm.expire_blockhash()
        blockhash = self.svm.latest_blockhash()
        now = int(self.clock())
        self.blockhashes[blockhash] = self.slot
        self.blocks[self.slot] = Block(self.slot, parent, blockhash, previous, now, height)
        self._update_sysvars(now)

    def _update_sysvars(self, now: int) -> None:
        # LiteSVM leaves SlotHashes and the clock's timestamp alone; programs (the address
        # lookup table program, anything reading Clock) need them as a bank has them.
        recent = range(self.slot - 1, max(-1, self.slot - 1 - SLOT_HASHES_KEPT), -1)
        self.svm.set_slot_hashes([(s, self.blocks[s].blockhash) for s in recent
                                  if s in self.blocks])
        self.svm.set_clock(Clock(slot=self.slot, epoch_start_timestamp=0, epoch=0,
                                 leader_schedule_epoch=0, unix_timestamp=now))

    def advance(self) -> None:
        """Close the current slot and open the next; tell listeners what reached which level."""
        before = {c: self.commitment_slot(c) for c in ("confirmed", "finalized")}
        previous = self.blocks[self.slot]
        self.slot += 1
        if not self.finalization_stalled:
            self.finalized_slot = max(self.finalized_slot, self.slot - self.finalize_depth)
        self._open_block(previous.slot, previous.blockhash, previous.block_height + 1)
        self._emit("slot", self.slot)
        for commitment, old in before.items():
            for slot in range(old + 1, self.commitment_slot(commitment) + 1):
                block = self.blocks.get(slot)
                for sig in block.signatures if block is not None else []:
                    self._emit(commitment, self.txs[sig])

    def commitment_slot(self, commitment: str | None) -> int:
        if commitment in (None, "finalized", "max", "root"):
            return self.finalized_slot
        if commitment in ("confirmed", "single", "singleGossip"):
            return max(self.finalized_slot, self.slot - self.confirm_depth)
        return self.slot

    def level_of(self, record: TxRecord) -> str:
        if record.slot <= self.finalized_slot:
            return "finalized"
        if record.slot <= self.commitment_slot("confirmed"):
            return "confirmed"
        return "processed"

    def visible(self, record: TxRecord, commitment: str | None) -> bool:
        return record.slot <= self.commitment_slot(commitment)

    def _emit(self, kind: str, payload: Any) -> None:
        for listener in list(self.listeners):
            listener(kind, payload)

    # ----- blockhashes ----------------------------------------------------------------------

    def latest_blockhash(self, commitment: str | None = "processed") -> tuple[Hash, int]:
        """The blockhash of the commitment's bank and its lastValidBlockHeight."""
        block = self.blocks[self.commitment_slot(commitment)]
        return block.blockhash, block.block_height + BLOCKHASH_VALID_SLOTS

    def blockhash_valid(self, blockhash: Hash) -> bool:
        slot = self.blockhashes.get(blockhash)
        return slot is not None and self.slot - slot <= BLOCKHASH_VALID_SLOTS

    # ----- accounts -------------------------------------------------------------------------

    def account(self, key: Pubkey, commitment: str | None = "processed") -> Account | None:
        """The account as of the commitment's slot (LiteSVM itself only has the newest)."""
        history = self.versions.get(key)
        if not history:
            return self.svm.get_account(key)
        limit = self.commitment_slot(commitment)
        for version in reversed(history):
            if version.slot <= limit:
                return version.account
        return history[0].account

    def _record_versions(self, record: TxRecord, before: dict[Pubkey, Account | None]) -> None:
        for key in record.changed:
            history = self.versions.setdefault(key, [Version(-1, -1, before.get(key))])
            history.append(Version(record.slot, record.seq, self.svm.get_account(key)))

    def decimals(self, mint: Pubkey) -> int:
        return decimals_of(mint, self.svm.get_account)

    def accounts_owned_by(self, owner: Pubkey) -> list[tuple[Pubkey, Account]]:
        return [(key, account) for key, account in self.svm.get_program_accounts(owner)]

    # ----- transactions ---------------------------------------------------------------------

    def simulate(self, tx: VersionedTransaction) -> Any:
        """SimulatedTransactionInfo or FailedTransactionMetadata; both have meta()."""
        return self.svm.simulate_transaction(tx)

    def check(self, tx: VersionedTransaction) -> None:
        """What a leader refuses before executing: a replay, a stale blockhash, a bad signature."""
        try:
            tx.sanitize()
        except ValueError:
            raise SendError("SanitizeFailure") from None
        if str(tx.signatures[0]) in self.txs:
            raise SendError("AlreadyProcessed")
        if not self.blockhash_valid(tx.message.recent_blockhash):
            raise SendError("BlockhashNotFound")
        if not all(tx.verify_with_results()):
            raise SendError("SignatureFailure")

    def submit(self, tx: VersionedTransaction) -> TxRecord:
        """Execute in the current slot. Refusals raise SendError; failures land with `err`."""
        self.check(tx)
        try:
            loaded = resolve_lookups(tx.message, self.svm.get_account)
        except LookupFailure as exc:
            raise SendError(exc.reason) from None
        keys = [*tx.message.account_keys, *loaded.writable, *loaded.readonly]
        before = {k: self.svm.get_account(k) for k in keys}
        result = self.svm.send_transaction(tx)
        err = result.err() if isinstance(result, FailedTransactionMetadata) else None
        meta = result.meta() if isinstance(result, FailedTransactionMetadata) else result
        if err is not None and error_name(err) in REFUSED:
            raise SendError(error_name(err), list(meta.logs()))
        record = self._record(tx, keys, loaded, before, err, meta)
        self._record_versions(record, before)
        self._index(record)
        self._emit("processed", record)
        return record

    def _record(self, tx: VersionedTransaction, keys: list[Pubkey], loaded: LoadedAddresses,
                before: dict[Pubkey, Account | None], err: Any,
                meta: TransactionMetadata) -> TxRecord:
        after = {k: self.svm.get_account(k) for k in keys}
        return TxRecord(
            signature=str(tx.signatures[0]), slot=self.slot,
            block_time=self.blocks[self.slot].block_time, tx=tx, account_keys=keys, err=err,
            fee=meta.fee(), logs=list(meta.logs()),
            inner_instructions=list(meta.inner_instructions()),
            compute_units=meta.compute_units_consumed(),
            pre_balances=[_lamports(before[k]) for k in keys],
            post_balances=[_lamports(after[k]) for k in keys],
            pre_token_balances=token_balances(keys, before, self.svm.get_account),
            post_token_balances=token_balances(keys, after, self.svm.get_account),
            memo=memo_of(tx), pre_accounts=before, loaded=loaded, seq=next(self._seq),
            changed=frozenset(k for k in keys if before[k] != after[k]))

    def _index(self, record: TxRecord) -> None:
        self.txs[record.signature] = record
        self.blocks[record.slot].signatures.append(record.signature)
        for key in dict.fromkeys(record.account_keys):
            self.by_address.setdefault(key, []).append(record.signature)

    # ----- a dead fork ----------------------------------------------------------------------

    def drop(self, signature: str) -> bool:
        """A dead fork: a processed, unconfirmed transaction vanishes with its writes, and so
        does every later transaction that used an account it wrote (they were built on the
        same fork). Returns False when the transaction is unknown or already confirmed."""
        record = self.txs.get(signature)
        if record is None or self.level_of(record) != "processed":
            return False
        doomed = self._fork_of(record)
        dropped_seqs = {r.seq for r in doomed}
        touched: set[Pubkey] = set()
        for victim in doomed:
            touched |= victim.changed
            self._unindex(victim)
        for key in touched:
            history = [v for v in self.versions[key] if v.seq not in dropped_seqs]
            self.versions[key] = history
            self.svm.set_account(key, history[-1].account
                                 or Account(0, b"", Pubkey.default(), False, 0))
        return True

    def _fork_of(self, record: TxRecord) -> list[TxRecord]:
        dirty, doomed = set(record.changed), [record]
        for later in sorted((r for r in self.txs.values() if r.seq > record.seq),
                            key=lambda r: r.seq):
            if dirty.intersection(later.account_keys):
                doomed.append(later)
                dirty |= later.changed
        return doomed

    def _unindex(self, record: TxRecord) -> None:
        del self.txs[record.signature]
        self.blocks[record.slot].signatures.remove(record.signature)
        for key in dict.fromkeys(record.account_keys):
            self.by_address[key].remove(record.signature)

    # ----- helpers --------------------------------------------------------------------------

    def airdrop(self, to: Pubkey, lamports: int) -> TxRecord:
        """A real System transfer from the faucet, so it has a signature and a history."""
        blockhash, _ = self.latest_blockhash()
        message = MessageV0.try_compile(
            self.faucet.pubkey(),
            [transfer(TransferParams(from_pubkey=self.faucet.pubkey(), to_pubkey=to,
                                     lamports=lamports))], [], blockhash)
        return self.submit(VersionedTransaction(message, [self.faucet]))

    def signature_of(self, signature: Signature | str) -> TxRecord | None:
        return self.txs.get(str(signature))


def _lamports(account: Account | None) -> int:
    return account.lamports if account is not None else 0


def error_name(err: Any) -> str:
    """TransactionError's variant name: "BlockhashNotFound", "InstructionError", ..."""
    name = type(err).__name__
    if name == "TransactionErrorFieldless":
        return str(err).rsplit(".", 1)[-1]
    return name.removeprefix("TransactionError")


MEMO_PROGRAMS = (Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"),
                 Pubkey.from_string("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"))


def memo_of(tx: VersionedTransaction) -> str | None:
    """getSignaturesForAddress's `memo`: "[len] text" per memo instruction, joined by "; "."""
    keys = tx.message.account_keys
    memos = []
    for ix in tx.message.instructions:
        if ix.program_id_index < len(keys) and keys[ix.program_id_index] in MEMO_PROGRAMS:
            text = bytes(ix.data).decode("utf-8", "replace")
            memos.append(f"[{len(ix.data)}] {text}")
    return "; ".join(memos) or None
