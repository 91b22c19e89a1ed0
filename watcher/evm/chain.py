"""What an EVM node says, parsed strictly: blocks (with their transactions), ERC-20 Transfer
logs and call traces become `Seen` transfers. Anything malformed raises ValueError, which the RPC
pool treats as garbage from that node (it asks the next one); nothing half-parsed reaches the
database.

Transfer indexes within one transaction (transfers are unique per (chain, tx, index), an int in
[0, 2^31)), in three ranges that cannot overlap:
- 0: the transaction's own native value (NATIVE_INDEX);
- 1 .. 2^30 - 1: the ERC-20 log at block logIndex n is n + 1;
- 2^30 .. 2^31 - 1: native value moved by an internal frame of the call trace (INTERNAL_BASE +
  the frame's number, see parse_traces).
A log index or frame number that would leave its range is refused as garbage: a block would
need hundreds of billions of gas to hold that many logs or calls."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from paywatch.core.evm import TRANSFER_TOPIC, checksum, hex_int, topic_address

log = logging.getLogger("paywatch.watcher.evm")
HASH = re.compile(r"0x[0-9a-f]{64}")
# Transfer index of a transaction's native value; a log at block logIndex n is n + 1.
NATIVE_INDEX = 0
# Internal transfers: message-call frames (CALL, CREATE...) are numbered in depth-first order
# (the top-level frame is 0 and never recorded: the block's transaction already is); SELFDESTRUCT
# frames, which some clients report and others do not, count in a range of their own so a node
# that omits them numbers the calls the same.
INTERNAL_BASE = 2**30
SELFDESTRUCT_BASE = INTERNAL_BASE + 2**29
INDEX_END = 2**31
# Frame types whose value moves to `to`; DELEGATECALL, STATICCALL and CALLCODE (and the EOF
# EXT* equivalents) move none: CALLCODE's value stays with the caller, whatever `to` says.
MOVES_VALUE = frozenset({"CALL", "CREATE", "CREATE2", "EXTCALL"})
MOVES_NOTHING = frozenset({"DELEGATECALL", "STATICCALL", "CALLCODE", "EXTDELEGATECALL",
                           "EXTSTATICCALL"})
SELFDESTRUCT = "SELFDESTRUCT"


@dataclass(frozen=True)
class Header:
    number: int
    hash: str
    parent_hash: str
    time: datetime


@dataclass(frozen=True)
class Seen:
    """One movement of value to an address, as found in a block."""

    tx_id: str
    index: int
    block_number: int
    block_hash: str
    contract: str | None   # None: the chain's native coin
    sender: str | None
    to: str                # EIP-55
    amount: int
    removed: bool = False
    internal: bool = False  # moved by a contract's internal call (found in a trace)


@dataclass(frozen=True)
class Block:
    header: Header
    native: list[Seen]
    tx_ids: tuple[str, ...] = ()  # every transaction, in block order (traces follow it)


def _hash(value: Any) -> str:
    if not isinstance(value, str) or not HASH.fullmatch(value.lower()):
        raise ValueError(f"not a 32-byte hash: {value!r}")
    return value.lower()


def parse_header(raw: Any) -> Header:
    if not isinstance(raw, dict):
        raise ValueError(f"expected a block object, got {type(raw).__name__}")
    return Header(number=hex_int(raw["number"]), hash=_hash(raw["hash"]),
                  parent_hash=_hash(raw["parentHash"]),
                  time=datetime.fromtimestamp(hex_int(raw["timestamp"]), UTC))


def parse_block(raw: Any) -> Block:
    """A block fetched with full transactions: its header and every native value transfer."""
    header = parse_header(raw)
    txs = raw.get("transactions")
    if not isinstance(txs, list):
        raise ValueError("block has no transaction list")
    native, tx_ids = [], []
    for tx in txs:
        if not isinstance(tx, dict):
            raise ValueError("block fetched without full transactions")
        tx_ids.append(_hash(tx["hash"]))
        value = hex_int(tx["value"])
        if value == 0 or tx.get("to") is None:  # contract creations pay nobody we watch
            continue
        native.append(Seen(tx_id=_hash(tx["hash"]), index=NATIVE_INDEX,
                           block_number=header.number, block_hash=header.hash, contract=None,
                           sender=checksum(tx["from"]), to=checksum(tx["to"]), amount=value))
    return Block(header, native, tuple(tx_ids))


def parse_logs(raw: Any) -> list[Seen]:
    """Transfer logs of the configured tokens. A log that is not an ERC-20 Transfer (an ERC-721
    one has its token id as a fourth topic) is skipped, not counted as garbage."""
    if not isinstance(raw, list):
        raise ValueError(f"expected a list of logs, got {type(raw).__name__}")
    found = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise ValueError("log entry is not an object")
        topics, data = entry.get("topics"), entry.get("data")
        if not isinstance(topics, list) or not isinstance(data, str):
            raise ValueError("log entry without topics or data")
        if len(topics) != 3 or str(topics[0]).lower() != TRANSFER_TOPIC or len(data) != 66:
            log.debug("skipping a non-ERC-20 Transfer log",
                      extra={"tx": entry.get("transactionHash")})
            continue
        index = hex_int(entry["logIndex"]) + 1
        if index >= INTERNAL_BASE:
            raise ValueError(f"log index {index - 1} is out of range")
        found.append(Seen(
            tx_id=_hash(entry["transactionHash"]), index=index,
            block_number=hex_int(entry["blockNumber"]), block_hash=_hash(entry["blockHash"]),
            contract=checksum(entry["address"]), sender=topic_address(topics[1]),
            to=topic_address(topics[2]), amount=hex_int(data),
            removed=entry.get("removed") is True))
    return [s for s in found if s.amount > 0 or s.removed]


def receipt_ok(raw: Any) -> bool:
    """A transaction receipt's status: only a successful transaction moved its value."""
    if not isinstance(raw, dict):
        raise ValueError("receipt is not an object")
    return hex_int(raw["status"]) == 1


def parse_traces(raw: Any, block: Block) -> list[Seen]:
    """A block's call traces (debug_traceBlockByHash with the callTracer): the native value that
    contracts moved to someone inside the block's transactions. One entry per transaction, in
    block order (an entry's txHash, when the node gives one, must agree).

    A frame that failed (`error`) moved nothing, and neither did anything below it: the EVM
    undoes a failed frame's sub-calls too, though the tracer marks only the frame that failed.
    So a transaction whose top-level frame failed moved nothing at all. The top-level frame's
    own value is the transaction's, which the block already shows: it is not counted again."""
    if not isinstance(raw, list):
        raise ValueError(f"expected a list of traces, got {type(raw).__name__}")
    if len(raw) != len(block.tx_ids):
        raise ValueError(f"block {block.header.number} has {len(block.tx_ids)} transactions "
                         f"but {len(raw)} traces")
    found: list[Seen] = []
    for tx_id, entry in zip(block.tx_ids, raw, strict=True):
        if not isinstance(entry, dict):
            raise ValueError("trace entry is not an object")
        if "txHash" in entry and _hash(entry["txHash"]) != tx_id:
            raise ValueError(f"trace of {entry['txHash']!r} where {tx_id} was expected")
        if "error" in entry:  # the node failed to trace it: another node, or later, may not
            raise ValueError(f"no trace of {tx_id}: {str(entry['error'])[:200]}")
        found += _internal_transfers(entry.get("result"), tx_id, block.header)
    return found


def _internal_transfers(root: Any, tx_id: str, header: Header) -> list[Seen]:
    """Walk one transaction's call tree depth-first (iteratively: calls nest 1024 deep)."""
    _, failed, _, children = _frame(root)
    if failed:
        return []
    found = []
    calls, selfdestructs = 1, 0  # the top-level frame is call 0
    stack = [(child, False) for child in reversed(children)]  # (frame, an ancestor failed)
    while stack:
        frame, undone = stack.pop()
        kind, failed, value, children = _frame(frame)
        undone = undone or failed
        stack.extend((child, undone) for child in reversed(children))
        if kind == SELFDESTRUCT:
            index, selfdestructs = SELFDESTRUCT_BASE + selfdestructs, selfdestructs + 1
        else:
            index, calls = INTERNAL_BASE + calls, calls + 1
        if index >= (INDEX_END if kind == SELFDESTRUCT else SELFDESTRUCT_BASE):
            raise ValueError(f"transaction {tx_id} has more frames than an index can number")
        if undone or value == 0:
            continue
        if kind not in MOVES_VALUE and kind != SELFDESTRUCT:
            if kind not in MOVES_NOTHING:  # a frame type newer than this code: credit nothing
                log.debug("skipping a trace frame of unknown type",
                          extra={"tx": tx_id, "type": kind})
            continue
        found.append(Seen(tx_id=tx_id, index=index, block_number=header.number,
                          block_hash=header.hash, contract=None, sender=checksum(frame["from"]),
                          to=checksum(frame["to"]), amount=value, internal=True))
    return found


def _frame(raw: Any) -> tuple[str, bool, int, list[Any]]:
    """(type, failed, value, sub-calls) of one callTracer frame."""
    if not isinstance(raw, dict):
        raise ValueError("trace frame is not an object")
    kind, error, children = raw.get("type"), raw.get("error"), raw.get("calls", [])
    if not isinstance(kind, str) or not kind:
        raise ValueError("trace frame without a type")
    if error is not None and not isinstance(error, str):
        raise ValueError("trace frame error is not a string")
    if not isinstance(children, list):
        raise ValueError("trace frame calls is not a list")
    # The tracer omits `value` where none can move (STATICCALL, DELEGATECALL).
    value = hex_int(raw["value"]) if raw.get("value") is not None else 0
    return kind.upper(), bool(error), value, children
