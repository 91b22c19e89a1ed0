"""JSON-RPC methods with a real node's parameter forms, result shapes and error codes."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import base58
from solders.hash import Hash
from solders.message import from_bytes_versioned
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from simnet import encoding
from simnet.errors import describe
from simnet.fees import fee_for
from simnet.ledger import COMMITMENTS, GENESIS_SLOT, Ledger, SendError, TxRecord
from simnet.tokens import (
    TOKEN_PROGRAMS,
    is_mint,
    is_token_account,
    mint_fields,
    token_account_fields,
    ui_amount,
)

MAX_SIGNATURES_FOR_ADDRESS = 1000
MAX_STATUS_SIGNATURES = 256
SLOTS_PER_EPOCH = 432_000
STATUS_CACHE_SLOTS = 300  # how far back getSignatureStatuses looks without searching history
BELOW_CONFIRMED = "Method does not support commitment below `confirmed`"


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
        return str(self.ledger.blocks[GENESIS_SLOT].blockhash)

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
        blockhash, last_valid = self.ledger.latest_blockhash(config.get("commitment"))
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
        try:
            message = from_bytes_versioned(raw)
        except ValueError:
            raise invalid("invalid transaction: failed to deserialize message") from None
        # a node answers null for a message whose blockhash its bank does not know
        fee = fee_for(message) if self.ledger.blockhash_valid(message.recent_blockhash) \
            else None
        return {"context": self._context(_config(params, 1)), "value": fee}

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
        mint, program = self._token_filter(_param(params, 1, dict, "filter"))
        config = _config(params, 2)
        value = []
        for key, _ in self.ledger.accounts_owned_by(program):
            account = self.ledger.account(key, config.get("commitment"))  # at its commitment
            if not is_token_account(account) or account is None or account.owner != program:
                continue
            fields = token_account_fields(bytes(account.data))
            if fields["owner"] == owner and (mint is None or fields["mint"] == mint):
                value.append({"pubkey": str(key), "account": self._encoded(key, config)})
        return {"context": self._context(config), "value": value}

    def _token_filter(self, flt: dict[str, Any]) -> tuple[Pubkey | None, Pubkey]:
        """{"mint": ...} (its program is the mint's owner) or {"programId": ...}."""
        if len(flt) != 1 or not ({"mint", "programId"} & set(flt)):
            raise invalid("Invalid params: expected a filter with mint or programId")
        if "programId" in flt:
            program = _pubkey(flt["programId"])
            if program not in TOKEN_PROGRAMS:
                raise invalid("Invalid param: unrecognized Token program id")
            return None, program
        mint = _pubkey(flt["mint"])
        account = self.ledger.account(mint)
        if not is_mint(account) or account is None:
            raise invalid("Invalid param: could not find mint")
        return mint, account.owner

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
            if config.get("skipPreflight"):
                # Unchecked, the node forwards it and answers its signature; the leader then
                # drops it, and it never gets a status (what a client must cope with).
                return str(tx.signatures[0])
            raise _send_error(exc) from None

    def _preflight(self, tx: VersionedTransaction) -> None:
        if not all(tx.verify_with_results()):
            raise RpcError(-32003, "Transaction signature verification failure")
        try:
            self.ledger.check(tx)
        except SendError as exc:
            raise _simulation_failed(exc.reason, [], 0) from None
        result = self.ledger.simulate(tx)
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            raise _simulation_failed(encoding.error_json(result.err()), list(meta.logs()),
                                     meta.compute_units_consumed())

    def rpc_simulateTransaction(self, params: list[Any]) -> dict[str, Any]:
        tx, config = self._transaction(params)
        replace = bool(config.get("replaceRecentBlockhash"))
        if config.get("sigVerify") and replace:
            raise invalid("sigVerify may not be used with replaceRecentBlockhash")
        if config.get("sigVerify") and not all(tx.verify_with_results()):
            raise RpcError(-32003, "Transaction signature verification failure")
        value: dict[str, Any] = {"err": None, "logs": [], "accounts": None, "unitsConsumed": 0,
                                 "returnData": None, "innerInstructions": None,
                                 "replacementBlockhash": None}
        if replace:
            blockhash, last_valid = self.ledger.latest_blockhash(config.get("commitment"))
            value["replacementBlockhash"] = {"blockhash": str(blockhash),
                                             "lastValidBlockHeight": last_valid}
        elif not self.ledger.blockhash_valid(tx.message.recent_blockhash):
            value["err"] = "BlockhashNotFound"
            return {"context": self._context(config), "value": value}
        result = self.ledger.simulate(tx)  # LiteSVM ignores blockhashes: "replaced" for free
        meta = result.meta()  # both outcomes carry TransactionMetadata behind meta()
        if isinstance(result, FailedTransactionMetadata):
            value["err"] = encoding.error_json(result.err())
        value["logs"], value["unitsConsumed"] = list(meta.logs()), meta.compute_units_consumed()
        return {"context": self._context(config), "value": value}

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
        config = _config(params, 1)
        search = bool(config.get("searchTransactionHistory"))
        return {"context": self._context({"commitment": "processed"}),
                "value": [self._status(self._cached(s, search)) for s in sigs]}

    def _cached(self, signature: str, search_history: bool) -> TxRecord | None:
        """Without searchTransactionHistory a node looks only in its status cache (recent
        slots); older signatures come back null, which clients must handle."""
        record = self.ledger.signature_of(signature)
        if record is None or search_history:
            return record
        return record if self.ledger.slot - record.slot <= STATUS_CACHE_SLOTS else None

    def rpc_getSignaturesForAddress(self, params: list[Any]) -> list[dict[str, Any]]:
        key = _pubkey(_param(params, 0, str, "address"))
        config = _config(params, 1)
        if config.get("commitment") == "processed":
            raise invalid(BELOW_CONFIRMED)
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
            raise invalid(BELOW_CONFIRMED)
        enc = (config.get("encoding") or "json")
        if enc not in ("json", "jsonParsed", "base64", "base58"):
            raise invalid(f"Invalid params: unknown variant `{enc}`")
        record = self.ledger.signature_of(sig)
        if record is None or not self.ledger.visible(record, config.get("commitment")):
            return None
        max_version = config.get("maxSupportedTransactionVersion")
        _check_version(record, max_version)
        return encoding.encode_confirmed_transaction(record, enc, max_version is not None)

    def rpc_getBlock(self, params: list[Any]) -> dict[str, Any]:
        slot = _param(params, 0, int, "slot")
        config = _param(params, 1, dict, "config", required=False) or {}
        if config.get("commitment") == "processed":
            raise invalid(BELOW_CONFIRMED)
        block = self.ledger.blocks.get(slot)
        if block is None or slot > self.ledger.commitment_slot(config.get("commitment")):
            raise RpcError(-32004, f"Block not available for slot {slot}")
        details = config.get("transactionDetails") or "full"
        if details not in ("full", "signatures", "accounts", "none"):
            raise invalid(f"Invalid params: unknown variant `{details}`")
        out: dict[str, Any] = {
            "blockHeight": block.block_height, "blockTime": block.block_time,
            "blockhash": str(block.blockhash), "parentSlot": block.parent_slot,
            "previousBlockhash": str(block.previous_blockhash)}
        if config.get("rewards", True):
            out["rewards"] = []
        records = [self.ledger.txs[s] for s in block.signatures]
        if details == "signatures":
            out["signatures"] = [r.signature for r in records]
        elif details == "full":
            out["transactions"] = self._block_transactions(records, config)
        elif details == "accounts":
            out["transactions"] = [self._block_accounts(r) for r in records]
        return out

    def _block_transactions(self, records: list[TxRecord],
                            config: dict[str, Any]) -> list[dict[str, Any]]:
        enc, max_version = config.get("encoding") or "json", \
            config.get("maxSupportedTransactionVersion")
        if enc not in ("json", "jsonParsed", "base64", "base58"):
            raise invalid(f"Invalid params: unknown variant `{enc}`")
        out = []
        for record in records:
            _check_version(record, max_version)
            item = {"transaction": encoding.encode_transaction(record, enc),
                    "meta": encoding.encode_meta(record, enc)}
            if max_version is not None:
                item["version"] = encoding.transaction_version(record)
            out.append(item)
        return out

    def _block_accounts(self, record: TxRecord) -> dict[str, Any]:
        """transactionDetails "accounts": signatures and parsed account keys, a trimmed meta."""
        parsed = encoding.encode_transaction(record, "jsonParsed")
        meta = encoding.encode_meta(record, "json")
        keep = ("err", "status", "fee", "preBalances", "postBalances", "preTokenBalances",
                "postTokenBalances")
        return {"transaction": {"signatures": parsed["signatures"],
                                "accountKeys": parsed["message"]["accountKeys"]},
                "meta": {k: meta[k] for k in keep},
                "version": encoding.transaction_version(record)}


def _between(records: list[TxRecord], before: str | None,
             until: str | None) -> list[TxRecord]:
    """Newest-first records strictly older than `before` and strictly newer than `until`.
    Like a node: an unknown `before` yields nothing; an unknown `until` bounds nothing."""
    sigs = [r.signature for r in records]
    if before is not None:
        if before not in sigs:
            return []
        records = records[sigs.index(before) + 1:]
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


def _simulation_failed(err: Any, logs: list[str], units: int) -> RpcError:
    """sendTransaction's preflight failure, -32002, with the simulation as `data`."""
    return RpcError(-32002, f"Transaction simulation failed: {describe(err)}", {
        "accounts": None, "err": err, "innerInstructions": None, "logs": logs,
        "replacementBlockhash": None, "returnData": None, "unitsConsumed": units})


def _send_error(exc: SendError) -> RpcError:
    if exc.reason == "SignatureFailure":
        return RpcError(-32003, "Transaction signature verification failure")
    return _simulation_failed(exc.reason, exc.logs, 0)
