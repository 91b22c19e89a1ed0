"""solana-py's AsyncClient against simnet, method by method, plus JSON-RPC error handling."""

from __future__ import annotations

import aiohttp
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solana.rpc.models import TokenAccountOpts
from solders.keypair import Keypair
from solders.signature import Signature
from spl.token.instructions import get_associated_token_address

from paywatch.core.solanapay import build_transfer_url
from simnet.server import SimnetServer
from simnet.wallet import Wallet


async def raw(sim: SimnetServer, payload: object) -> object:
    async with aiohttp.ClientSession() as s, s.post(sim.rpc_url, json=payload) as resp:
        return await resp.json()


async def test_cluster_methods(sim: SimnetServer, client: AsyncClient) -> None:
    assert (await client.is_connected()) is True
    assert (await client.get_version()).value.solana_core == "2.1.0"
    await sim.wait_slots(2)
    # Both levels as of one slot: the chain moves every 20 ms, and under load more than a slot
    # can pass between two requests. Read processed again after; retry (bounded) if it moved.
    for _ in range(50):
        processed = (await client.get_slot(Processed)).value
        confirmed = (await client.get_slot(Confirmed)).value
        if (await client.get_slot(Processed)).value == processed:
            break
    assert processed > confirmed >= 1
    assert (await client.get_block_height(Processed)).value >= 1
    info = (await client.get_epoch_info()).value
    assert info.epoch == 0
    latest = (await client.get_latest_blockhash()).value
    valid = await raw(sim, {"jsonrpc": "2.0", "id": 1, "method": "isBlockhashValid",
                            "params": [str(latest.blockhash), {"commitment": "processed"}]})
    assert valid["result"]["value"] is True
    assert latest.last_valid_block_height > info.block_height
    assert (await client.get_genesis_hash()).value is not None
    assert (await client.get_minimum_balance_for_rent_exemption(165)).value == 2039280


async def test_accounts_balances_and_tokens(sim: SimnetServer, client: AsyncClient,
                                            wallet: Wallet) -> None:
    assert (await client.get_balance(wallet.pubkey)).value == 100 * 10**9
    info = (await client.get_account_info(wallet.pubkey)).value
    assert info is not None
    assert info.lamports == 100 * 10**9
    missing = Keypair().pubkey()
    assert (await client.get_account_info(missing)).value is None
    many = (await client.get_multiple_accounts([wallet.pubkey, missing])).value
    assert many[0] is not None
    assert many[1] is None

    mint = await wallet.create_mint(6, 5_000_000)
    ata = get_associated_token_address(wallet.pubkey, mint)
    balance = (await client.get_token_account_balance(ata)).value
    assert (balance.amount, balance.decimals, balance.ui_amount_string) == ("5000000", 6, "5")
    assert (await client.get_token_supply(mint)).value.amount == "5000000"
    owned = (await client.get_token_accounts_by_owner_json_parsed(
        wallet.pubkey, TokenAccountOpts(mint=mint))).value
    assert [str(a.pubkey) for a in owned] == [str(ata)]
    parsed = owned[0].account.data.parsed
    assert parsed["type"] == "account"
    assert parsed["info"]["tokenAmount"]["amount"] == "5000000"
    mint_info = (await client.get_account_info_json_parsed(mint)).value
    assert mint_info.data.parsed["info"]["decimals"] == 6


async def test_transactions_statuses_and_history(sim: SimnetServer, client: AsyncClient,
                                                 wallet: Wallet) -> None:
    merchant, ref = Keypair().pubkey(), Keypair().pubkey()
    url = build_transfer_url(recipient=str(merchant), amount_base_units=1_500_000_000,
                             decimals=9, spl_token=None, references=[str(ref)],
                             memo="ORD-7")
    sig = Signature.from_string(await wallet.pay(url))
    status = (await client.get_signature_statuses([sig], True)).value[0]
    assert status is not None
    assert status.err is None
    history = (await client.get_signatures_for_address(ref)).value
    assert [h.signature for h in history] == [sig]
    assert history[0].memo == "[5] ORD-7"
    tx = (await client.get_transaction(sig, max_supported_transaction_version=0)).value
    assert tx is not None
    meta = tx.transaction.meta
    keys = tx.transaction.transaction.message.account_keys
    recipient_index = keys.index(merchant)
    assert meta.post_balances[recipient_index] - meta.pre_balances[recipient_index] == 1_500_000_000
    # one signature (5000) plus the priority fee of the wallet's compute-unit price:
    # 200,000 CU x 1 micro-lamport, rounded up to 1 lamport
    assert meta.fee == 5001
    assert ref in keys
    parsed = (await client.get_transaction(sig, "jsonParsed",
                                           max_supported_transaction_version=0)).value
    kinds = [getattr(ix, "program", None) for ix in
             parsed.transaction.transaction.message.instructions]
    assert kinds[-2:] == ["spl-memo", "system"]
    block = (await client.get_block(tx.slot, max_supported_transaction_version=0)).value
    assert sig in [t.transaction.signatures[0] for t in block.transactions]


async def test_history_pagination_before_and_until(client: AsyncClient, wallet: Wallet) -> None:
    target = Keypair().pubkey()
    sigs = [await wallet.airdrop(target, 10**9 + i) for i in range(5)]
    newest_first = [str(s.signature) for s in
                    (await client.get_signatures_for_address(target)).value]
    assert newest_first == list(reversed(sigs))
    page = (await client.get_signatures_for_address(
        target, before=Signature.from_string(sigs[3]), limit=2)).value
    assert [str(s.signature) for s in page] == [sigs[2], sigs[1]]
    until = (await client.get_signatures_for_address(
        target, until=Signature.from_string(sigs[1]))).value
    assert [str(s.signature) for s in until] == [sigs[4], sigs[3], sigs[2]]


async def test_send_errors_are_a_nodes_errors(sim: SimnetServer, wallet: Wallet) -> None:
    from solders.message import MessageV0
    from solders.system_program import TransferParams, transfer
    from solders.transaction import VersionedTransaction

    blockhash, _ = sim.ledger.latest_blockhash()
    too_much = transfer(TransferParams(from_pubkey=wallet.pubkey, to_pubkey=Keypair().pubkey(),
                                       lamports=10**15))
    tx = VersionedTransaction(MessageV0.try_compile(wallet.pubkey, [too_much], [], blockhash),
                              [wallet.keypair])
    import base64

    encoded = base64.b64encode(bytes(tx)).decode()
    answer = await raw(sim, {"jsonrpc": "2.0", "id": 1, "method": "sendTransaction",
                             "params": [encoded, {"encoding": "base64"}]})
    error = answer["error"]
    assert error["code"] == -32002
    assert error["message"].startswith("Transaction simulation failed: Error processing "
                                       "Instruction 0: custom program error: 0x1")
    assert error["data"]["err"] == {"InstructionError": [0, {"Custom": 1}]}
    # with skipPreflight the failed transaction lands, with its error
    answer = await raw(sim, {"jsonrpc": "2.0", "id": 2, "method": "sendTransaction",
                             "params": [encoded, {"encoding": "base64",
                                                  "skipPreflight": True}]})
    record = sim.ledger.txs[answer["result"]]
    assert record.err is not None
    again = await raw(sim, {"jsonrpc": "2.0", "id": 3, "method": "sendTransaction",
                            "params": [encoded, {"encoding": "base64"}]})
    assert "already been processed" in again["error"]["message"]


@pytest.mark.parametrize(("payload", "code"), [
    ({"jsonrpc": "2.0", "id": 1, "method": "getNothing"}, -32601),
    ({"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": ["nope"]}, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": [5]}, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "getSignatureStatuses", "params": [["x"]]}, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "getSignaturesForAddress",
      "params": ["11111111111111111111111111111111", {"limit": 1001}]}, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "getSlot",
      "params": [{"commitment": "soon"}]}, -32602),
    ({"id": 1, "method": "getSlot"}, -32600),
    ({"jsonrpc": "2.0", "id": 1, "method": "getBlock", "params": [10**9]}, -32004),
    ({"jsonrpc": "2.0", "id": 1, "method": "getTokenAccountsByOwner",
      "params": ["11111111111111111111111111111111",
                 {"programId": "11111111111111111111111111111111"}]}, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "getTokenAccountsByOwner",
      "params": ["11111111111111111111111111111111",
                 {"mint": "So11111111111111111111111111111111111111112"}]}, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "getTransaction",
      "params": ["1" * 64, {"commitment": "processed"}]}, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": {"pubkey": "x"}}, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "getMultipleAccounts",
      "params": [["11111111111111111111111111111111"] * 101]}, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "sendTransaction", "params": ["AAAA",
                                                                        {"encoding": "base64"}]},
     -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "sendTransaction", "params": ["AAAA",
                                                                        {"encoding": "hex"}]},
     -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": 7}, -32600),
    ("getSlot", -32600),
])
async def test_bad_requests_get_node_error_codes(sim: SimnetServer, payload: object,
                                                 code: int) -> None:
    answer = await raw(sim, payload)
    assert answer["error"]["code"] == code


async def test_parse_errors_and_batches(sim: SimnetServer) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(sim.rpc_url, data=b"{not json") as resp:
            assert (await resp.json())["error"]["code"] == -32700
        async with s.post(sim.rpc_url, json=[]) as resp:
            assert (await resp.json())["error"]["code"] == -32600
    batch = await raw(sim, [{"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
                            {"jsonrpc": "2.0", "id": 2, "method": "nope"}])
    assert batch[0] == {"jsonrpc": "2.0", "result": "ok", "id": 1}
    assert batch[1]["error"]["code"] == -32601


async def test_v0_transactions_need_max_supported_version(sim: SimnetServer,
                                                          wallet: Wallet) -> None:
    sig = await wallet.airdrop(Keypair().pubkey(), 10**9)
    answer = await raw(sim, {"jsonrpc": "2.0", "id": 1, "method": "getTransaction",
                             "params": [sig, {"commitment": "confirmed"}]})
    assert answer["error"]["code"] == -32015
    ok = await raw(sim, {"jsonrpc": "2.0", "id": 1, "method": "getTransaction",
                         "params": [sig, {"commitment": "confirmed",
                                          "maxSupportedTransactionVersion": 0}]})
    assert ok["result"]["version"] == 0


async def test_finalized_is_later_than_confirmed(sim: SimnetServer, client: AsyncClient,
                                                 wallet: Wallet) -> None:
    target = Keypair().pubkey()
    sig = Signature.from_string(await wallet.airdrop(target, 10**9))
    assert (await client.get_balance(target, Confirmed)).value == 10**9
    assert (await client.get_transaction(sig, commitment=Finalized,
                                         max_supported_transaction_version=0)).value is None
    await sim.wait_slots(10)
    assert (await client.get_balance(target, Finalized)).value == 10**9
    status = (await client.get_signature_statuses([sig])).value[0]
    assert str(status.confirmation_status).endswith("Finalized")
    assert status.confirmations is None


async def test_simulate_and_fee_for_message(sim: SimnetServer, client: AsyncClient,
                                            wallet: Wallet) -> None:
    from solders.message import MessageV0
    from solders.system_program import TransferParams, transfer
    from solders.transaction import VersionedTransaction

    blockhash = (await client.get_latest_blockhash()).value.blockhash
    ok = MessageV0.try_compile(wallet.pubkey, [transfer(TransferParams(
        from_pubkey=wallet.pubkey, to_pubkey=Keypair().pubkey(), lamports=10**9))], [],
        blockhash)
    simulated = (await client.simulate_transaction(
        VersionedTransaction(ok, [wallet.keypair]))).value
    assert simulated.err is None
    assert simulated.units_consumed == 150
    assert (await client.get_fee_for_message(ok)).value == 5000
    too_much = MessageV0.try_compile(wallet.pubkey, [transfer(TransferParams(
        from_pubkey=wallet.pubkey, to_pubkey=Keypair().pubkey(), lamports=10**15))], [],
        blockhash)
    failed = (await client.simulate_transaction(
        VersionedTransaction(too_much, [wallet.keypair]))).value
    assert failed.err is not None
    assert any("insufficient lamports" in line for line in failed.logs)
    # simulation changes nothing
    assert (await client.get_balance(wallet.pubkey, Processed)).value == 100 * 10**9
