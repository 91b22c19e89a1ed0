"""EVM chains: the operator's chain configuration, addresses, deposit-address derivation and
EIP-681 payment URIs. Pure functions; no I/O.

Derivation is BIP32 *public* derivation from the store's account-level xpub (m/44'/60'/0'):
address n is xpub/0/n, the same address a wallet restored from the seed shows as its n-th
receive address. No private key exists anywhere in paywatch."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from eth_utils import is_hex_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from paywatch.core.endpoints import ChainEndpoints

# keccak("Transfer(address,address,uint256)"): topic0 of every ERC-20 transfer log.
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
ChainName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,12}$")]
Confirmations = int | Literal["safe", "finalized"]
MATCH_MODES = ("deposit_address", "shared_address")


class InvalidAddress(ValueError):
    pass


def checksum(address: str) -> str:
    """EIP-55 form of a 0x address; mixed-case input must already carry a valid checksum."""
    if not isinstance(address, str) or not is_hex_address(address):
        raise InvalidAddress(f"{address!r} is not a 0x-prefixed 20-byte hex address")
    good = to_checksum_address(address)
    body = address[2:]
    if body != body.lower() and body != body.upper() and address != good:
        raise InvalidAddress(f"{address!r} has a wrong EIP-55 checksum (expected {good})")
    return good


class EvmToken(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    symbol: Symbol
    contract: str
    decimals: Annotated[int, Field(ge=0, le=36)]

    @field_validator("contract")
    @classmethod
    def _contract(cls, value: str) -> str:
        return checksum(value)


class EvmChain(ChainEndpoints):
    """One EVM chain as the operator configures it (PAYWATCH_EVM_CHAINS is a JSON list)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: Literal["evm"] = "evm"
    name: ChainName
    # A display name for the checkout page ("Base"); unset: the chain's name, title-cased.
    display_name: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    # Explorer base URL (https://basescan.org): its /tx/ and /address/ pages are linked.
    explorer_url: str | None = None
    # Run this chain's watcher inside `paywatch run`.
    watch: bool = True
    chain_id: Annotated[int, Field(ge=1, le=2**53)]
    rpc_urls: Annotated[list[str], Field(min_length=1)]
    ws_urls: list[str] = Field(default_factory=list)
    native_symbol: Symbol = "ETH"
    native_decimals: Annotated[int, Field(ge=0, le=36)] = 18
    # Depth N (the block holding the transfer counts as 1), or the node's safe/finalized tag.
    confirmations: Confirmations = 12
    tokens: list[EvmToken] = Field(default_factory=list)
    poll_seconds: Annotated[float, Field(gt=0, le=600)] = 2.0
    backfill_chunk: Annotated[int, Field(ge=1, le=10_000)] = 500
    # Blocks remembered for reorg detection; a deeper reorg is logged and not followed.
    keep_blocks: Annotated[int, Field(ge=16, le=10_000)] = 256
    # Where a store with no cursor starts: this many blocks below the head.
    start_depth: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    # Trace every block (debug_traceBlockByHash, callTracer) to find native coin that contracts
    # send by internal call (a Safe, an ERC-4337 account, an exchange's hot wallet). Off: only
    # top-level transactions are seen. Costs one trace call per block that has transactions,
    # and a node that serves the debug namespace.
    trace_internal: bool = False

    @field_validator("confirmations")
    @classmethod
    def _depth(cls, value: Confirmations) -> Confirmations:
        if isinstance(value, int) and not 1 <= value <= 10_000:
            raise ValueError("confirmations must be 1..10000, 'safe' or 'finalized'")
        return value

    @model_validator(mode="after")
    def _names(self) -> EvmChain:
        if self.name == "solana":
            raise ValueError("'solana' is the Solana chain's name")
        symbols = [self.native_symbol] + [t.symbol for t in self.tokens]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"{self.name}: asset symbols must be unique, got {symbols}")
        return self

    def asset(self, symbol: str) -> tuple[str | None, int] | None:
        """(contract or None for the native coin, decimals) of a symbol this chain knows."""
        if symbol == self.native_symbol:
            return None, self.native_decimals
        for token in self.tokens:
            if token.symbol == symbol:
                return token.contract, token.decimals
        return None

    def symbols(self) -> list[str]:
        return [self.native_symbol] + [t.symbol for t in self.tokens]


def validate_xpub(xpub: str) -> str:
    """An extended *public* key (xpub...); a private one is refused outright."""
    if not isinstance(xpub, str) or not re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{100,120}", xpub):
        raise ValueError("expected an account-level extended public key (xpub...)")
    from bip_utils import Bip32Secp256k1  # a quarter second to import: only where xpubs are
    try:
        key = Bip32Secp256k1.FromExtendedKey(xpub)
    except Exception as exc:  # bip-utils raises checksum and format errors of several kinds
        raise ValueError(f"not a valid extended public key: {exc}") from None
    if not key.IsPublicOnly():
        raise ValueError("that is a private key: give the account's xpub, never its xprv")
    return xpub


def derive_address(xpub: str, index: int) -> str:
    """The EIP-55 address at xpub/0/index (external chain, as wallets number receive addresses)."""
    if not 0 <= index < 2**31:
        raise ValueError("derivation index out of range")
    from bip_utils import Bip32Secp256k1, EthAddrEncoder  # see validate_xpub
    child = Bip32Secp256k1.FromExtendedKey(xpub).ChildKey(0).ChildKey(index)
    return checksum(EthAddrEncoder.EncodeKey(child.PublicKey().KeyObject()))


def eip681_uri(chain_id: int, to: str, amount: int, contract: str | None) -> str:
    """ERC-681 request: a token transfer call, or a plain value transfer for the native coin."""
    if contract is not None:
        return f"ethereum:{contract}@{chain_id}/transfer?address={to}&uint256={amount}"
    return f"ethereum:{to}@{chain_id}?value={amount}"


def remainder_uri(uri: str, remaining: int) -> str | None:
    """The same deposit address asking for a smaller value (only deposit-address payments can
    be underpaid: a shared address matches exact amounts only); None for other schemes."""
    scheme, sep, rest = uri.partition(":")
    if scheme != "ethereum" or not sep:
        return None
    target, _, query = rest.partition("?")
    key = "uint256=" if "/transfer" in target else "value="
    params = [p for p in query.split("&") if p and not p.startswith(key)]
    return f"ethereum:{target}?" + "&".join([*params, f"{key}{remaining}"])


def topic_address(topic: str) -> str:
    """An indexed address topic (32 bytes, left-padded) -> EIP-55 address."""
    if not isinstance(topic, str) or not re.fullmatch(r"0x0{24}[0-9a-fA-F]{40}", topic):
        raise InvalidAddress(f"not an address topic: {topic!r}")
    return to_checksum_address("0x" + topic[-40:])


def hex_int(value: object) -> int:
    """A JSON-RPC quantity ("0x1a") -> int; anything else is garbage from the node."""
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{1,64}", value):
        raise ValueError(f"not a hex quantity: {value!r}")
    return int(value, 16)
