"""Shape checks for the Solana RPC answers the watcher reads, one per method, passed to
`RpcPool.call(parse=...)` as EVM's are: a node that answers with the wrong shape is a failing
node (the pool asks the next one) instead of a KeyError deep in a task that restarts the
watcher, or one whose error nobody reads. They check what the caller indexes, nothing more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _int(value: Any, what: str) -> int:
    # bool is an int in Python; a node that says `true` for a slot is not answering a slot.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what} is not a non-negative integer: {value!r}")
    return value


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object, got {type(value).__name__}")
    return value


def slot(raw: Any) -> int:
    """getSlot."""
    return _int(raw, "slot")


def signatures(raw: Any) -> list[dict[str, Any]]:
    """getSignaturesForAddress: newest first, each with its signature and slot."""
    if not isinstance(raw, list):
        raise ValueError(f"expected a list of signatures, got {type(raw).__name__}")
    for item in raw:
        entry = _object(item, "signature entry")
        if not isinstance(entry.get("signature"), str):
            raise ValueError("signature entry without a signature")
        _int(entry.get("slot"), "signature entry's slot")
    return raw


def statuses(count: int) -> Callable[[Any], list[dict[str, Any] | None]]:
    """getSignatureStatuses for `count` signatures: one status (or null) per signature asked."""
    def parse(raw: Any) -> list[dict[str, Any] | None]:
        value = _object(raw, "statuses answer").get("value")
        if not isinstance(value, list) or len(value) != count:
            raise ValueError(f"expected {count} statuses")
        for status in value:
            if status is not None:
                _object(status, "status")
        return value
    return parse


def transaction(raw: Any) -> dict[str, Any] | None:
    """getTransaction: null (not visible at this commitment yet) or what the matcher reads."""
    if raw is None:
        return None
    tx = _object(raw, "transaction answer")
    message = _object(_object(tx.get("transaction"), "transaction").get("message"), "message")
    if not isinstance(message.get("accountKeys"), list) \
            or not isinstance(message.get("instructions"), list):
        raise ValueError("message without account keys or instructions")
    if tx.get("meta") is not None:
        _object(tx["meta"], "meta")
    return tx


def account_info(raw: Any) -> dict[str, Any] | None:
    """getAccountInfo: the account (with its owner program), or null if there is none."""
    answer = _object(raw, "account answer")
    if "value" not in answer:
        raise ValueError("account answer without a value")
    value = answer["value"]
    if value is not None and not isinstance(_object(value, "account").get("owner"), str):
        raise ValueError("account without an owner")
    return value
