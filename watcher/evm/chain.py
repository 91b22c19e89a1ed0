"""What an EVM node says, parsed strictly: blocks (with their transactions) and ERC-20 Transfer
logs become `Seen` transfers. Anything malformed raises ValueError, which the RPC pool treats as
garbage from that node (it asks the next one); nothing half-parsed reaches the database."""

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


@dataclass(frozen=True)
class Block:
    header: Header
    native: list[Seen]


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
    native = []
    for tx in txs:
        if not isinstance(tx, dict):
            raise ValueError("block fetched without full transactions")
        value = hex_int(tx["value"])
        if value == 0 or tx.get("to") is None:  # contract creations pay nobody we watch
            continue
        native.append(Seen(tx_id=_hash(tx["hash"]), index=NATIVE_INDEX,
                           block_number=header.number, block_hash=header.hash, contract=None,
                           sender=checksum(tx["from"]), to=checksum(tx["to"]), amount=value))
    return Block(header, native)


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
        found.append(Seen(
            tx_id=_hash(entry["transactionHash"]), index=hex_int(entry["logIndex"]) + 1,
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
