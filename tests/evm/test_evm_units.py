"""The pure EVM pieces: addresses, quantities, URIs, shared amounts, the chain configuration,
what a node's answers parse to (and the garbage they refuse), and the matching rules."""

from __future__ import annotations

import json
import uuid

import pytest

from paywatch.core.evm import (
    TRANSFER_TOPIC,
    EvmChain,
    InvalidAddress,
    checksum,
    eip681_uri,
    hex_int,
    topic_address,
)
from paywatch.core.payments import unique_amount
from paywatch.core.settings import SettingsError, load_settings
from watcher.evm.chain import parse_block, parse_header, parse_logs
from watcher.evm.matcher import match

USDT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TO = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
CHAIN = EvmChain.model_validate({
    "name": "anvil", "chain_id": 31337, "rpc_urls": ["http://127.0.0.1:8545"],
    "tokens": [{"symbol": "USDT", "contract": USDT.lower(), "decimals": 6}]})
HASH = "0x" + "ab" * 32


def test_addresses_are_checksummed_and_typos_refused() -> None:
    assert checksum(TO.lower()) == TO
    assert checksum(TO.upper().replace("0X", "0x")) == TO
    for bad in ("0x1234", TO[:-1] + "5", "9858EfFD232B4033E47d90003D41EC34EcaEda94", 42, None):
        with pytest.raises(InvalidAddress):
            checksum(bad)  # type: ignore[arg-type]


def test_quantities_and_topics_refuse_garbage() -> None:
    assert hex_int("0x1a") == 26
    for bad in ("1a", "0x", "0xzz", 26, None, "0x" + "f" * 65):
        with pytest.raises(ValueError, match="hex quantity"):
            hex_int(bad)
    assert topic_address("0x" + "0" * 24 + TO[2:].lower()) == TO
    with pytest.raises(InvalidAddress):
        topic_address("0x" + "1" * 64)  # high bytes set: not an address


def test_eip681_uris() -> None:
    assert eip681_uri(1, TO, 10**18, None) == f"ethereum:{TO}@1?value=1000000000000000000"
    assert eip681_uri(137, TO, 5_000_000, USDT) == \
        f"ethereum:{USDT}@137/transfer?address={TO}&uint256=5000000"


def test_unique_amounts_round_to_typeable_steps_and_skip_taken_ones() -> None:
    eth = 10_000_000_123_456_789  # 0.010000000123456789 ETH
    assert unique_amount(eth, 18, set()) == 10_000_010_000_000_000  # up to 1e-8 ETH
    assert unique_amount(eth, 18, {10_000_010_000_000_000}) == 10_000_020_000_000_000
    assert unique_amount(5_000_000, 6, {5_000_000, 5_000_001}) == 5_000_002
    assert unique_amount(5, 6, set(range(5, 10_005))) is None  # every slot taken


def test_chain_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    chains = [{"name": "base", "chain_id": 8453,
               "rpc_urls": ["https://rpc.example/v2/SECRETKEY", "http://127.0.0.1:8545"],
               "ws_urls": ["wss://rpc.example/ws?key=SECRETKEY"], "confirmations": "finalized",
               "native_symbol": "ETH", "tokens": [{"symbol": "USDC", "contract": USDT,
                                                   "decimals": 6}]}]
    monkeypatch.setenv("PAYWATCH_EVM_CHAINS", json.dumps(chains))
    settings = load_settings(_env_file=None)
    assert settings.evm_chain("base").confirmations == "finalized"  # type: ignore[union-attr]
    shown = json.dumps(settings.public_view())
    assert "SECRETKEY" not in shown  # provider keys in URLs never reach `config show`
    assert "https://rpc.example/***" in shown


def test_tracing_is_per_chain_and_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    chains = [{"name": "base", "chain_id": 8453, "rpc_urls": ["http://127.0.0.1:8545"],
               "trace_internal": True},
              {"name": "polygon", "chain_id": 137, "rpc_urls": ["http://127.0.0.1:8546"]}]
    monkeypatch.setenv("PAYWATCH_EVM_CHAINS", json.dumps(chains))
    settings = load_settings(_env_file=None)
    assert settings.evm_chain("base").trace_internal is True  # type: ignore[union-attr]
    assert settings.evm_chain("polygon").trace_internal is False  # type: ignore[union-attr]
    assert CHAIN.trace_internal is False


@pytest.mark.parametrize(("chains", "says"), [
    ("not json", "JSON"),
    ('{"name": "x"}', "list"),
    ('[{"name": "solana", "chain_id": 1, "rpc_urls": ["http://a"]}]', "Solana"),
    ('[{"name": "a", "chain_id": 1, "rpc_urls": ["ftp://a"]}]', "http"),
    ('[{"name": "a", "chain_id": 1, "rpc_urls": ["http://a"], "confirmations": 0}]',
     "confirmations"),
    ('[{"name": "a", "chain_id": 1, "rpc_urls": ["http://a"], "trace_internal": "maybe"}]',
     "boolean"),
    ('[{"name": "a", "chain_id": 1, "rpc_urls": ["http://a"]},'
     ' {"name": "a", "chain_id": 2, "rpc_urls": ["http://b"]}]', "unique"),
    ('[{"name": "a", "chain_id": 1, "rpc_urls": ["http://a"], "tokens": '
     '[{"symbol": "ETH", "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3", '
     '"decimals": 18}]}]', "unique"),
])
def test_bad_chain_configuration_is_one_clear_line(monkeypatch: pytest.MonkeyPatch,
                                                   chains: str, says: str) -> None:
    monkeypatch.setenv("PAYWATCH_EVM_CHAINS", chains)
    with pytest.raises((SettingsError, ValueError)) as caught:
        load_settings(_env_file=None)
    assert says.lower() in str(caught.value).lower()


def _block(**overrides: object) -> dict:
    block = {"number": "0x10", "hash": HASH, "parentHash": "0x" + "cd" * 32,
             "timestamp": "0x6553f100", "transactions": [
                 {"hash": "0x" + "01" * 32, "from": USDT, "to": TO, "value": "0x64"},
                 {"hash": "0x" + "02" * 32, "from": USDT, "to": None, "value": "0x1"},
                 {"hash": "0x" + "03" * 32, "from": USDT, "to": TO, "value": "0x0"}]}
    return block | overrides


def test_blocks_parse_to_native_transfers() -> None:
    block = parse_block(_block())
    assert block.header.number == 16
    [seen] = block.native  # the contract creation and the zero-value call pay nobody
    assert (seen.to, seen.amount, seen.index, seen.contract) == (TO, 100, 0, None)


@pytest.mark.parametrize("garbage", [
    None, [], "block", {"number": "0x10"}, _block(hash="0x12"), _block(number=16),
    _block(transactions=None), _block(transactions=["0x" + "01" * 32]),
    _block(transactions=[{"hash": "0x" + "01" * 32, "from": "x", "to": TO, "value": "0x1"}]),
])
def test_garbage_blocks_are_refused(garbage: object) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        parse_block(garbage)


def _log(**overrides: object) -> dict:
    entry = {"address": USDT.lower(), "blockHash": HASH, "blockNumber": "0x10",
             "transactionHash": "0x" + "04" * 32, "logIndex": "0x2",
             "topics": [TRANSFER_TOPIC, "0x" + "0" * 24 + USDT[2:].lower(),
                        "0x" + "0" * 24 + TO[2:].lower()],
             "data": "0x" + f"{5_000_000:064x}", "removed": False}
    return entry | overrides


def test_transfer_logs_parse_and_others_are_skipped() -> None:
    erc721 = _log(topics=[*_log()["topics"], "0x" + "0" * 63 + "7"], data="0x")
    [seen] = parse_logs([_log(), erc721, _log(data="0x" + "0" * 64)])
    assert (seen.contract, seen.to, seen.amount, seen.index) == (USDT, TO, 5_000_000, 3)
    [removed] = parse_logs([_log(removed=True)])
    assert removed.removed is True
    for garbage in (None, {"a": 1}, [None], [_log(blockHash="0x1")], [_log(topics=None)],
                    [_log(logIndex=2)]):
        with pytest.raises((ValueError, KeyError, TypeError)):
            parse_logs(garbage)
    with pytest.raises(ValueError, match="hash"):
        parse_header({"number": "0x1", "hash": "nope", "parentHash": HASH, "timestamp": "0x1"})


def _payment(deposit: bool, amount: int = 5_000_000, mint: str | None = USDT,
             status: str = "pending") -> dict:
    return {"id": uuid.uuid4(), "store_id": "store", "address": TO.lower(), "asset": "USDT",
            "mint": mint, "amount_due": amount, "status": status, "deposit": deposit}


def test_matching_rules() -> None:
    [seen] = parse_logs([_log()])
    deposit = _payment(True)
    assert match(CHAIN, seen, [deposit], None).payment_id == deposit["id"]  # type: ignore[union-attr]
    eth_payment = _payment(True, mint=None) | {"asset": "ETH"}
    wrong = match(CHAIN, seen, [eth_payment], None)
    assert wrong is not None
    assert wrong.payment_id is None  # waits in the inbox, naming the payment it reached
    assert wrong.store_id == "store"
    assert wrong.unmatched_reason == (f"wrong asset: sent USDT to the deposit address of "
                                      f"payment {eth_payment['id']}, which asks ETH")
    expired, pending = _payment(False, status="expired"), _payment(False)
    shared = match(CHAIN, seen, [expired, pending], "store")
    assert shared is not None
    assert shared.payment_id == pending["id"]  # open payments before expired ones
    other = match(CHAIN, seen, [_payment(False, amount=5_000_001)], "store")
    assert other is not None
    assert other.payment_id is None
    assert other.store_id == "store"
    assert other.unmatched_reason is not None
    assert other.unmatched_reason.startswith("amount matches no open payment")
    assert match(CHAIN, seen, [], None) is None  # not our address
