"""The simnet ledger: LiteSVM executes transactions for real; this class adds what a validator
has and LiteSVM does not: slots and blocks, commitment levels, a signature index per address,
account versions per slot (so queries honour their commitment), blockhash validity, and the
faults tests need (a dead-fork drop, stalled finalization).

Commitment model: a transaction lands `processed` in the current slot; it is `confirmed` once
`confirm_depth` more slots exist and `finalized` once `finalize_depth` more exist."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata

from simnet.tokens import decimals_of, token_balances

COMMITMENTS = ("processed", "confirmed", "finalized")
BLOCKHASH_VALID_SLOTS = 150
FIRST_SLOT = 1
LAMPORTS_PER_SOL = 1_000_000_000
# Errors a validator refuses before a transaction reaches a block (no fee, no signature kept).
REFUSED = ("BlockhashNotFound", "AlreadyProcessed", "SignatureFailure", "AccountNotFound",
           "InsufficientFundsForFee", "SanitizeFailure", "AccountInUse")


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
    account_keys: list[Pubkey]
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


@dataclass
class Block:
    slot: int
    parent_slot: int
    blockhash: Hash
    previous_blockhash: Hash
    block_time: int
    block_height: int
    signatures: list[str] = field(default_factory=list)


Listener = Callable[[str, Any], None]  # (event kind, payload)


class Ledger:
    def __init__(self, confirm_depth: int = 1, finalize_depth: int = 32,
                 clock: Callable[[], float] = time.time) -> None:
        self.svm = LiteSVM().with_blockhash_check(False).with_transaction_history(0)
        self.confirm_depth, self.finalize_depth, self.clock = confirm_depth, finalize_depth, clock
        self.finalization_stalled = False
        self.slot = FIRST_SLOT
        self.finalized_slot = 0
        self.txs: dict[str, TxRecord] = {}
        self.by_address: dict[Pubkey, list[str]] = {}
        self.blocks: dict[int, Block] = {}
        self.blockhashes: dict[Hash, int] = {}
        self.versions: dict[Pubkey, list[tuple[int, Account | None]]] = {}
        self.listeners: list[Listener] = []
        self.faucet = Keypair()
        self.svm.set_account(self.faucet.pubkey(), Account(
            lamports=500_000_000 * LAMPORTS_PER_SOL, data=b"", owner=Pubkey.default(),
            executable=False, rent_epoch=0))
        self._open_block(parent=0, previous=Hash.default())

    # ----- slots and commitment -------------------------------------------------------------

    def _open_block(self, parent: int, previous: Hash) -> None:
        self.svm.warp_to_slot(self.slot)
        self.svm.expire_blockhash()
        blockhash = self.svm.latest_blockhash()
        self.blockhashes[blockhash] = self.slot
        self.blocks[self.slot] = Block(self.slot, parent, blockhash, previous,
                                       int(self.clock()), len(self.blocks) + 1)

    def advance(self) -> None:
        """Close the current slot and open the next; tell listeners what reached which level."""
        before = {c: self.commitment_slot(c) for c in ("confirmed", "finalized")}
        previous = self.blocks[self.slot]
        self.slot += 1
        if not self.finalization_stalled:
            self.finalized_slot = max(self.finalized_slot, self.slot - self.finalize_depth)
        self._open_block(parent=previous.slot, previous=previous.blockhash)
        self._emit("slot", self.slot)
        for commitment, old in before.items():
            for slot in range(old + 1, self.commitment_slot(commitment) + 1):
                for sig in self.blocks.get(slot, Block(0, 0, Hash.default(), Hash.default(),
                                                       0, 0)).signatures:
                    self._emit(commitment, self.txs[sig])

    def commitment_slot(self, commitment: str | None) -> int:
        if commitment in (None, "finalized", "max", "root"):
            return self.finalized_slot
        if commitment in ("confirmed", "single", "singleGossip"):
            return max(0, self.slot - self.confirm_depth)
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

    def latest_blockhash(self) -> tuple[Hash, int]:
        block = self.blocks[self.slot]
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
        for slot, state in reversed(history):
            if slot <= limit:
                return state
        return history[0][1]

    def _record_versions(self, keys: list[Pubkey], before: dict[Pubkey, Account | None]) -> None:
        for key in keys:
            history = self.versions.setdefault(key, [(-1, before.get(key))])
            history.append((self.slot, self.svm.get_account(key)))

    def decimals(self, mint: Pubkey) -> int:
        return decimals_of(mint, self.svm.get_account)

    def accounts_owned_by(self, owner: Pubkey) -> list[tuple[Pubkey, Account]]:
        found = []
        for key in self.versions:
            account = self.svm.get_account(key)
            if account is not None and account.owner == owner:
                found.append((key, account))
        return found

    # ----- transactions ---------------------------------------------------------------------

    def simulate(self, tx: VersionedTransaction) -> Any:
        """SimulatedTransactionInfo or FailedTransactionMetadata; both have meta()."""
        return self.svm.simulate_transaction(tx)

    def submit(self, tx: VersionedTransaction) -> TxRecord:
        """Execute in the current slot. Refusals raise SendError; failures land with `err`."""
        sig = str(tx.signatures[0])
        if sig in self.txs:
            raise SendError("AlreadyProcessed")
        if not self.blockhash_valid(tx.message.recent_blockhash):
            raise SendError("BlockhashNotFound")
        if not all(tx.verify_with_results()):
            raise SendError("SignatureFailure")
        keys = list(tx.message.account_keys)
        before = {k: self.svm.get_account(k) for k in keys}
        result = self.svm.send_transaction(tx)
        err = result.err() if isinstance(result, FailedTransactionMetadata) else None
        meta = result.meta() if isinstance(result, FailedTransactionMetadata) else result
        if err is not None and _error_name(err) in REFUSED:
            raise SendError(_error_name(err), list(meta.logs()))
        record = self._record(tx, keys, before, err, meta)
        self._record_versions(keys, before)
        self._index(record)
        self._emit("processed", record)
        return record

    def _record(self, tx: VersionedTransaction, keys: list[Pubkey],
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
            memo=memo_of(tx), pre_accounts=before)

    def _index(self, record: TxRecord) -> None:
        self.txs[record.signature] = record
        self.blocks[record.slot].signatures.append(record.signature)
        for key in record.account_keys:
            self.by_address.setdefault(key, []).append(record.signature)

    def drop(self, signature: str) -> bool:
        """A dead fork: a processed, unconfirmed transaction vanishes and its writes with it."""
        record = self.txs.get(signature)
        if record is None or self.level_of(record) != "processed":
            return False
        for key, state in record.pre_accounts.items():
            if state is None:
                self.svm.set_account(key, Account(0, b"", Pubkey.default(), False, 0))
            else:
                self.svm.set_account(key, state)
            history = self.versions.get(key, [])
            self.versions[key] = [(s, a) for s, a in history if s != record.slot] or history[:1]
        del self.txs[signature]
        self.blocks[record.slot].signatures.remove(signature)
        for key in record.account_keys:
            self.by_address[key].remove(signature)
        return True

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


def _error_name(err: Any) -> str:
    return str(err).split("(")[0].split(".")[-1].split(" ")[0].split("{")[0].strip()


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
