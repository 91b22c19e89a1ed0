"""Turning ledger records and accounts into the JSON a Solana RPC node sends: transaction
encodings `json`, `jsonParsed`, `base64`, `base58`, status meta, errors, account encodings."""

from __future__ import annotations

import base64
from typing import Any

import base58
from solders.account import Account
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from simnet.ledger import TxRecord
from simnet.parsed import parse_instruction
from simnet.tokens import is_mint, is_token_account, mint_fields, token_account_fields, ui_amount


class EncodingError(ValueError):
    pass


def error_json(err: Any) -> Any:
    """solders TransactionError -> the RPC's JSON form (e.g. {"InstructionError": [0, ...]})."""
    if err is None:
        return None
    name = type(err).__name__
    if name == "TransactionErrorFieldless":
        return str(err).rsplit(".", 1)[-1]
    if name == "TransactionErrorInstructionError":
        return {"InstructionError": [err.index, _instruction_error(err.err)]}
    if name == "TransactionErrorInsufficientFundsForRent":
        return {"InsufficientFundsForRent": {"account_index": err.account_index}}
    short = name.removeprefix("TransactionError")
    for attr in ("index", "account_index"):
        if hasattr(err, attr):
            return {short: getattr(err, attr)}
    return short


def _instruction_error(err: Any) -> Any:
    if type(err).__name__ == "InstructionErrorCustom":
        return {"Custom": err.code}
    return str(err).rsplit(".", 1)[-1]


def _version(tx: VersionedTransaction) -> Any:
    return "legacy" if type(tx.message).__name__ == "Message" else 0


def _raw_message(tx: VersionedTransaction) -> dict[str, Any]:
    msg = tx.message
    header = msg.header
    out: dict[str, Any] = {
        "header": {"numRequiredSignatures": header.num_required_signatures,
                   "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                   "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts},
        "accountKeys": [str(k) for k in msg.account_keys],
        "recentBlockhash": str(msg.recent_blockhash),
        "instructions": [{"programIdIndex": ix.program_id_index,
                          "accounts": list(bytes(ix.accounts)),
                          "data": base58.b58encode(bytes(ix.data)).decode(),
                          "stackHeight": None} for ix in msg.instructions],
    }
    if _version(tx) == 0:
        out["addressTableLookups"] = _lookups(tx)
    return out


def _parsed_message(record: TxRecord) -> dict[str, Any]:
    msg, keys = record.tx.message, record.account_keys
    static = len(msg.account_keys)
    return {
        "accountKeys": [{"pubkey": str(k), "writable": is_writable(record, i),
                         "signer": i < static and msg.is_signer(i),
                         "source": "transaction" if i < static else "lookupTable"}
                        for i, k in enumerate(keys)],
        "recentBlockhash": str(msg.recent_blockhash),
        "instructions": [parse_instruction(keys[ix.program_id_index],
                                           [keys[a] for a in bytes(ix.accounts)],
                                           bytes(ix.data)) for ix in msg.instructions],
        **({"addressTableLookups": _lookups(record.tx)} if _version(record.tx) == 0 else {}),
    }


def _lookups(tx: VersionedTransaction) -> list[dict[str, Any]]:
    if not isinstance(tx.message, MessageV0):  # a legacy message loads no tables
        return []
    return [{"accountKey": str(lookup.account_key),
             "writableIndexes": list(bytes(lookup.writable_indexes)),
             "readonlyIndexes": list(bytes(lookup.readonly_indexes))}
            for lookup in tx.message.address_table_lookups]


def is_writable(record: TxRecord, index: int) -> bool:
    """From the message header, as the runtime decides it (same rule for legacy and v0);
    loaded addresses are writable when they came from a table's writable indexes."""
    msg = record.tx.message
    h, count = msg.header, len(msg.account_keys)
    if index >= count:
        return index < count + len(record.loaded.writable)
    if index < h.num_required_signatures:
        return index < h.num_required_signatures - h.num_readonly_signed_accounts
    return index < count - h.num_readonly_unsigned_accounts


def encode_transaction(record: TxRecord, encoding: str) -> Any:
    tx = record.tx
    if encoding in ("json", "jsonParsed"):
        message = _parsed_message(record) if encoding == "jsonParsed" else _raw_message(tx)
        return {"signatures": [str(s) for s in tx.signatures], "message": message}
    if encoding == "base64":
        return [base64.b64encode(bytes(tx)).decode(), "base64"]
    if encoding == "base58":
        return [base58.b58encode(bytes(tx)).decode(), "base58"]
    raise EncodingError(f"Invalid encoding: {encoding}")


def _inner(record: TxRecord, encoding: str) -> list[dict[str, Any]]:
    keys = record.account_keys
    out = []
    for index, inner in enumerate(record.inner_instructions):
        if not inner:
            continue
        items = []
        for item in inner:
            # LiteSVM's InnerInstruction exposes its fields as methods
            ix, height = item.instruction(), item.stack_height()
            if encoding == "jsonParsed":
                parsed = parse_instruction(keys[ix.program_id_index],
                                           [keys[a] for a in bytes(ix.accounts)], bytes(ix.data))
                items.append({**parsed, "stackHeight": height})
            else:
                items.append({"programIdIndex": ix.program_id_index,
                              "accounts": list(bytes(ix.accounts)),
                              "data": base58.b58encode(bytes(ix.data)).decode(),
                              "stackHeight": height})
        out.append({"index": index, "instructions": items})
    return out


def encode_meta(record: TxRecord, encoding: str) -> dict[str, Any]:
    err = error_json(record.err)
    return {
        "err": err, "status": {"Ok": None} if err is None else {"Err": err},
        "fee": record.fee, "preBalances": record.pre_balances,
        "postBalances": record.post_balances,
        "innerInstructions": _inner(record, encoding),
        "logMessages": record.logs, "preTokenBalances": record.pre_token_balances,
        "postTokenBalances": record.post_token_balances, "rewards": [],
        "loadedAddresses": record.loaded.json(),
        "computeUnitsConsumed": record.compute_units,
    }


def encode_confirmed_transaction(record: TxRecord, encoding: str,
                                 with_version: bool = True) -> dict[str, Any]:
    """getTransaction's result. A node names the version only to a client that said which
    versions it supports (maxSupportedTransactionVersion); legacy-only clients get none."""
    out = {"slot": record.slot, "blockTime": record.block_time,
           "transaction": encode_transaction(record, encoding),
           "meta": encode_meta(record, encoding)}
    if with_version:
        out["version"] = _version(record.tx)
    return out


def transaction_version(record: TxRecord) -> Any:
    return _version(record.tx)


def encode_account(account: Account | None, encoding: str, key: Pubkey,
                   decimals_of: Any = None) -> dict[str, Any] | None:
    if account is None or (account.lamports == 0 and not account.data):
        return None
    data = bytes(account.data)
    base = {"lamports": account.lamports, "owner": str(account.owner),
            "executable": account.executable, "rentEpoch": 18446744073709551615,
            "space": len(data)}
    if encoding == "jsonParsed":
        parsed = parse_account(account, decimals_of)
        if parsed is not None:
            return {**base, "data": parsed}
        encoding = "base64"  # a real node falls back when it has no parser
    if encoding == "base64":
        return {**base, "data": [base64.b64encode(data).decode(), "base64"]}
    if encoding == "base58":
        return {**base, "data": [base58.b58encode(data).decode(), "base58"]}
    if encoding == "base64+zstd":
        raise EncodingError("base64+zstd is not supported by simnet")
    raise EncodingError(f"Invalid encoding: {encoding}")


def parse_account(account: Account, decimals_of: Any) -> dict[str, Any] | None:
    program = "spl-token" if str(account.owner).startswith("Tokenkeg") else "spl-token-2022"
    data = bytes(account.data)
    if is_token_account(account):
        f = token_account_fields(data)
        info = {"isNative": False, "mint": str(f["mint"]), "owner": str(f["owner"]),
                "state": f["state"],
                "tokenAmount": ui_amount(f["amount"], decimals_of(f["mint"]))}
        return {"program": program, "parsed": {"info": info, "type": "account"},
                "space": len(data)}
    if is_mint(account):
        info = {**mint_fields(data), "supply": str(mint_fields(data)["supply"])}  # a string
        return {"program": program, "parsed": {"info": info, "type": "mint"},
                "space": len(data)}
    return None
