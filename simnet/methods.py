"""JSON-RPC methods with a real node's parameter forms, result shapes and error codes."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import base58
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from simnet import encoding
from simnet.ledger import COMMITMENTS, Ledger, SendError, TxRecord
from simnet.tokens import (
    TOKEN_PROGRAMS,
    is_mint,
    is_token_account,
    mint_fields,
    token_account_fields,
    ui_amount,
)

LAMPORTS_PER_SIGNATURE = 5000
MAX_SIGNATURES_FOR_ADDRESS = 1000
MAX_STATUS_SIGNATURES = 256
SLOTS_PER_EPOCH = 432_000


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


def invalid(message: str) -> RpcError:
    return RpcError(-32602, message)


def _param(params: list[Any], index: int, kind: type | tuple[type, ...], name: str,
           required: bool = True) -> Any:
    if index >= len(params) or params[index] is None:
        if required:
            raise invalid(f"Invalid params: missing {name}")
        return None
    value = params[index]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise invalid(f"Invalid params: invalid type for {name}")
    return value


def _config(params: list[Any], index: int) -> dict[str, Any]:
    config = _param(params, index, dict, "config", required=False) or {}
    commitment = config.get("commitment")
    if commitment is not None and commitment not in COMMITMENTS:
        raise invalid(f"Invalid params: unknown variant `{commitment}`")
    return config


def _pubkey(value: Any) -> Pubkey:
    if not isinstance(value, str):
        raise invalid("Invalid params: expected a base58 public key")
    try:
        return Pubkey.from_string(value)
    except ValueError:
        raise invalid("Invalid param: Invalid") from None


class Methods:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.table: dict[str, Callable[[list[Any]], Any]] = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("rpc_")}

    def call(self, method: str, params: Any) -> Any:
        handler = self.table.get(method)
        if handler is None:
            raise RpcError(-32601, "Method not found")
        if params is None:
            params = []
        if not isinstance(params, list):
            raise invalid("Invalid params: expected an array")
        return handler(params)

    def _context(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "2.1.0",
                "slot": self.ledger.commitment_slot(config.get("commitment"))}

    # ----- cluster --------------------------------------------------------------------------

    def rpc_getHealth(self, params: list[Any]) -> str:
        return "ok"

    def rpc_getVersion(self, params: list[Any]) -> dict[str, Any]:
        return {"solana-core": "2.1.0", "feature-set": 1725507508}

    def rpc_getGenesisHash(self, params: list[Any]) -> str:
        return str(self.ledger.blocks[1].blockhash)

    def rpc_getSlot(self, params: list[Any]) -> int:
        return self.ledger.commitment_slot(_config(params, 0).get("commitment"))

    def _height(self, commitment: str | None) -> int:
        slot = self.ledger.commitment_slot(commitment)
        return self.ledger.blocks[slot].block_height if slot in self.ledger.blocks else 0

    def rpc_getBlockHeight(self, params: list[Any]) -> int:
        return self._height(_config(params, 0).get("commitment"))

    def rpc_getEpochInfo(self, params: list[Any]) -> dict[str, Any]:
        commitment = _config(params, 0).get("commitment")
        slot = self.ledger.commitment_slot(commitment)
        return {"absoluteSlot": slot, "blockHeight": self._height(commitment), "epoch": 0,
                "slotIndex": slot, "slotsInEpoch": SLOTS_PER_EPOCH,
                "transactionCount": len(self.ledger.txs)}

    def rpc_getLatestBlockhash(self, params: list[Any]) -> dict[str, Any]:
        config = _config(params, 0)
        blockhash, last_valid = self.ledger.latest_blockhash()
        return {"context": self._context(config),
                "value": {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}}

    def rpc_isBlockhashValid(self, params: list[Any]) -> dict[str, Any]:
        text = _param(params, 0, str, "blockhash")
        try:
            blockhash = Hash.from_string(text)
        except ValueError:
            raise invalid("Invalid param: invalid blockhash") from None
        config = _config(params, 1)
        return {"context": self._context(config), "value": self.ledger.blockhash_valid(blockhash)}

    def rpc_getFeeForMessage(self, params: list[Any]) -> dict[str, Any]:
        raw = _decode(_param(params, 0, str, "message"), "base64")
        if not raw:
            raise invalid("Invalid params: empty message")
        signers = raw[1] if raw[0] & 0x80 else raw[0]  # a v0 message starts with its prefix
        return {"context": self._context(_config(params, 1)),
                "value": signers * LAMPORTS_PER_SIGNATURE}

    def rpc_getMinimumBalanceForRentExemption(self, params: list[Any]) -> int:
        size = _param(params, 0, int, "data length")
        if size < 0 or size > 10 * 1024 * 1024:
            raise invalid("Invalid params: data length out of range")
        return int(self.ledger.svm.minimum_balance_for_rent_exemption(size))

    # ----- accounts -------------------------------------------------------------------------

    def _encoded(self, key: Pubkey, config: dict[str, Any]) -> Any:
        account = self.ledger.account(key, config.get("commitment"))
        try:
            return encoding.encode_account(account, (config.get("encoding") or "base58"), key,
                                           self.ledger.decimals)
        except encoding.EncodingError as exc:
            raise invalid(f"Invalid params: {exc}") from None

    def rpc_getBalance(self, params: list[Any]) -> dict[str, Any]:
        key, config = _pubkey(_param(params, 0, str, "pubkey")), _config(params, 1)
        account = self.ledger.account(key, config.get("commitment"))
        return {"context": self._context(config),
                "value": account.lamports if account is not None else 0}

    def rpc_getAccountInfo(self, params: list[Any]) -> dict[str, Any]:
        key, config = _pubkey(_param(params, 0, str, "pubkey")), _config(params, 1)
        return {"context": self._context(config), "value": self._encoded(key, config)}

    def rpc_getMultipleAccounts(self, params: list[Any]) -> dict[str, Any]:
        keys = _param(params, 0, list, "pubkeys")
        if len(keys) > 100:
            raise invalid("Too many inputs provided; max 100")
        config = _config(params, 1)
        return {"context": self._context(config),
                "value": [self._encoded(_pubkey(k), config) for k in keys]}

    def _token_account(self, key: Pubkey, commitment: str | None) -> dict[str, Any]:
        account = self.ledger.account(key, commitment)
        if not is_token_account(account):
            raise invalid("Invalid param: not a Token account")
        assert account is not None
        return token_account_fields(bytes(account.data))

    def rpc_getTokenAccountBalance(self, params: list[Any]) -> dict[str, Any]:
        key, config = _pubkey(_param(params, 0, str, "pubkey")), _config(params, 1)
        fields = self._token_account(key, config.get("commitment"))
        return {"context": self._context(config),
                "value": ui_amount(fields["amount"], self.ledger.decimals(fields["mint"]))}

    def rpc_getTokenSupply(self, params: list[Any]) -> dict[str, Any]:
        key, config = _pubkey(_param(params, 0, str, "mint")), _config(params, 1)
        account = self.ledger.account(key, config.get("commitment"))
        if not is_mint(account):
            raise invalid("Invalid param: not a Token mint")
        assert account is not None
        info = mint_fields(bytes(account.data))
        return {"context": self._context(config),
                "value": ui_amount(info["supply"], info["decimals"])}

    def rpc_getTokenAccountsByOwner(self, params: list[Any]) -> dict[str, Any]:
        owner = _pubkey(_param(params, 0, str, "owner"))
        flt = _param(params, 1, dict, "filter")
        config = _config(params, 2)
        if len(flt) != 1 or not ({"mint", "programId"} & set(flt)):
            raise invalid("Invalid params: expected a filter with mint or programId")
        mint = _pubkey(flt["mint"]) if "mint" in flt else None
        programs = (_pubkey(flt["programId"]),) if "programId" in flt else TOKEN_PROGRAMS
        value = []
        for program in programs:
            for key, account in self.ledger.accounts_owned_by(program):
                if not is_token_account(account):
                    continue
                fields = token_account_fields(bytes(account.data))
                if fields["owner"] == owner and (mint is None or fields["mint"] == mint):
                    value.append({"pubkey": str(key), "account": self._encoded(key, config)})
        return {"context": self._context(config), "value": value}

    # ----- transactions ---------------------------------------------------------------------

    def rpc_requestAirdrop(self, params: list[Any]) -> str:
        key = _pubkey(_param(params, 0, str, "pubkey"))
        lamports = _param(params, 1, int, "lamports")
        if not 0 < lamports <= 1_000_000 * 10**9:
            raise invalid("Invalid params: lamports out of range")
        return self.ledger.airdrop(key, lamports).signature

    def _transaction(self, params: list[Any]) -> tuple[VersionedTransaction, dict[str, Any]]:
        raw_text = _param(params, 0, str, "transaction")
        config = _config(params, 1)
        raw = _decode(raw_text, (config.get("encoding") or "base58"))
        try:
            return VersionedTransaction.from_bytes(raw), config
        except ValueError as exc:
            raise invalid(f"failed to deserialize solana_transaction::versioned::"
                          f"VersionedTransaction: {exc}") from None

    def rpc_sendTransaction(self, params: list[Any]) -> str:
        tx, config = self._transaction(params)
        if not config.get("skipPreflight"):
            self._preflight(tx)
        try:
            return self.ledger.submit(tx).signature
        except SendError as exc:
            raise _send_error(exc) from None

    def _preflight(self, tx: VersionedTransaction) -> None:
        if not all(tx.verify_with_results()):
            raise RpcError(-32003, "Transaction signature verification failure")
        if not self.ledger.blockhash_valid(tx.message.recent_blockhash):
            raise _simulation_failed("Blockhash not found", "BlockhashNotFound", [], 0)
        if str(tx.signatures[0]) in self.ledger.txs:
            raise _simulation_failed("This transaction has already been processed",
                                     "AlreadyProcessed", [], 0)
        result = self.ledger.simulate(tx)
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            raise _simulation_failed(_describe(result.err()), encoding.error_json(result.err()),
                                     list(meta.logs()), meta.compute_units_consumed())

    def rpc_simulateTransaction(self, params: list[Any]) -> dict[str, Any]:
        tx, config = self._transaction(params)
        if config.get("sigVerify") and not all(tx.verify_with_results()):
            raise RpcError(-32003, "Transaction signature verification failure")
        result = self.ledger.simulate(tx)
        failed = isinstance(result, FailedTransactionMetadata)
        meta = result.meta()  # both outcomes carry TransactionMetadata behind meta()
        return {"context": self._context(config), "value": {
            "err": encoding.error_json(result.err()) if failed else None,
            "logs": list(meta.logs()), "accounts": None,
            "unitsConsumed": meta.compute_units_consumed(), "returnData": None,
            "innerInstructions": None, "replacementBlockhash": None}}

    def _status(self, record: TxRecord | None) -> dict[str, Any] | None:
        if record is None:
            return None
        level = self.ledger.level_of(record)
        err = encoding.error_json(record.err)
        return {"slot": record.slot, "err": err,
                "status": {"Ok": None} if err is None else {"Err": err},
                "confirmations": None if level == "finalized"
                else max(0, self.ledger.slot - record.slot),
                "confirmationStatus": level}

    def rpc_getSignatureStatuses(self, params: list[Any]) -> dict[str, Any]:
        sigs = _param(params, 0, list, "signatures")
        if len(sigs) > MAX_STATUS_SIGNATURES:
            raise invalid(f"Too many inputs provided; max {MAX_STATUS_SIGNATURES}")
        for sig in sigs:
            _signature(sig)
        return {"context": self._context({"commitment": "processed"}),
                "value": [self._status(self.ledger.signature_of(s)) for s in sigs]}

    def rpc_getSignaturesForAddress(self, params: list[Any]) -> list[dict[str, Any]]:
        key = _pubkey(_param(params, 0, str, "address"))
        config = _config(params, 1)
        if config.get("commitment") == "processed":
            raise invalid("Method does not support commitment below `confirmed`")
        limit = (config.get("limit") or MAX_SIGNATURES_FOR_ADDRESS)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_SIGNATURES_FOR_ADDRESS:
            raise invalid("Invalid limit; max 1000")
        newest_first = [self.ledger.txs[s] for s in reversed(self.ledger.by_address.get(key, []))
                        if self.ledger.visible(self.ledger.txs[s], config.get("commitment"))]
        newest_first = _between(newest_first, config.get("before"), config.get("until"))
        return [{"signature": r.signature, "slot": r.slot, "err": encoding.error_json(r.err),
                 "memo": r.memo, "blockTime": r.block_time,
                 "confirmationStatus": self.ledger.level_of(r)} for r in newest_first[:limit]]

    def rpc_getTransaction(self, params: list[Any]) -> dict[str, Any] | None:
        sig = _signature(_param(params, 0, str, "signature"))
        config = _param(params, 1, (dict, str), "config", required=False) or {}
        if isinstance(config, str):  # the old positional encoding form
            config = {"encoding": config}
        if config.get("commitment") == "processed":
            raise invalid("Method does not support commitment below `confirmed`")
        enc = (config.get("encoding") or "json")
        if enc not in ("json", "jsonParsed", "base64", "base58"):
            raise invalid(f"Invalid params: unknown variant `{enc}`")
        record = self.ledger.signature_of(sig)
        if record is None or not self.ledger.visible(record, config.get("commitment")):
            return None
        _check_version(record, config.get("maxSupportedTransactionVersion"))
        return encoding.encode_confirmed_transaction(record, enc)

    def rpc_getBlock(self, params: list[Any]) -> dict[str, Any]:
        slot = _param(params, 0, int, "slot")
        config = _param(params, 1, dict, "config", required=False) or {}
        block = self.ledger.blocks.get(slot)
        if block is None or slot > self.ledger.commitment_slot(config.get("commitment")):
            raise RpcError(-32004, f"Block not available for slot {slot}")
        records = [self.ledger.txs[s] for s in block.signatures]
        out: dict[str, Any] = {
            "blockHeight": block.block_height, "blockTime": block.block_time,
            "blockhash": str(block.blockhash), "parentSlot": block.parent_slot,
            "previousBlockhash": str(block.previous_blockhash), "rewards": []}
        details = (config.get("transactionDetails") or "full")
        if details == "signatures":
            out["signatures"] = [r.signature for r in records]
        elif details == "full":
            enc = (config.get("encoding") or "json")
            for record in records:
                _check_version(record, config.get("maxSupportedTransactionVersion"))
            out["transactions"] = [
                {"transaction": encoding.encode_transaction(r.tx, enc),
                 "meta": encoding.encode_meta(r, enc),
                 "version": encoding.transaction_version(r)} for r in records]
        return out


def _between(records: list[TxRecord], before: str | None,
             until: str | None) -> list[TxRecord]:
    sigs = [r.signature for r in records]
    if before is not None:
        records = records[sigs.index(before) + 1:] if before in sigs else records
    if until is not None:
        sigs = [r.signature for r in records]
        records = records[:sigs.index(until)] if until in sigs else records
    return records


def _check_version(record: TxRecord, max_version: Any) -> None:
    if encoding.transaction_version(record) == 0 and max_version is None:
        raise RpcError(-32015, "Transaction version (0) is not supported by the requesting "
                               "client. Please try the request again with the following "
                               "configuration parameter: \"maxSupportedTransactionVersion\": 0")


def _signature(text: Any) -> str:
    if not isinstance(text, str):
        raise invalid("Invalid params: expected a signature")
    try:
        if len(base58.b58decode(text)) != 64:
            raise ValueError
    except ValueError:
        raise invalid("Invalid param: WrongSize") from None
    return text


def _decode(text: str, enc: str) -> bytes:
    try:
        if enc == "base64":
            return base64.b64decode(text, validate=True)
        if enc == "base58":
            return base58.b58decode(text)
    except ValueError:
        raise invalid(f"Invalid params: invalid {enc} encoding") from None
    raise invalid(f"Invalid params: unsupported encoding: {enc}")


def _describe(err: Any) -> str:
    shown = encoding.error_json(err)
    if isinstance(shown, dict) and "InstructionError" in shown:
        index, inner = shown["InstructionError"]
        detail = (f"custom program error: {hex(inner['Custom'])}" if isinstance(inner, dict)
                  else str(inner))
        return f"Error processing Instruction {index}: {detail}"
    return str(shown)


def _simulation_failed(what: str, err: Any, logs: list[str], units: int) -> RpcError:
    return RpcError(-32002, f"Transaction simulation failed: {what}", {
        "accounts": None, "err": err, "innerInstructions": None, "logs": logs,
        "replacementBlockhash": None, "returnData": None, "unitsConsumed": units})


def _send_error(exc: SendError) -> RpcError:
    if exc.reason == "SignatureFailure":
        return RpcError(-32003, "Transaction signature verification failure")
    return _simulation_failed(exc.reason, exc.reason, exc.logs, 0)
