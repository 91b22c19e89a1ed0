"""What a real node does that a naive fake gets wrong: commitment levels seen slot by slot with
the clock held, dead forks that take their descendants with them, skipPreflight, fees with a
priority fee, blockhashes per commitment, address lookup tables, the status cache, getBlock's
options, body limits, and the control endpoint."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Processed
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction
from spl.token.constants import TOKEN_2022_PROGRAM_ID

from paywatch.core.solanapay import build_transfer_url
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.simnet.test_shapes import assert_covers, fixture


async def rpc(sim: SimnetServer, method: str, params: list[Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.post(sim.rpc_url, json={
            "jsonrpc": "2.0", "id": 1, "method": method, "params": params}) as resp:
        return await resp.json()


def pay_tx(sim: SimnetServer, payer: Wallet, to: Pubkey, lamports: int,
           blockhash: Hash | None = None) -> VersionedTransaction:
    blockhash = blockhash or sim.ledger.latest_blockhash()[0]
    ix = transfer(TransferParams(from_pubkey=payer.pubkey, to_pubkey=to, lamports=lamports))
    return VersionedTransaction(MessageV0.try_compile(payer.pubkey, [ix], [], blockhash),
                                [payer.keypair])


def b64(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()


async def send(sim: SimnetServer, tx: VersionedTransaction, **config: Any) -> dict[str, Any]:
    return await rpc(sim, "sendTransaction", [b64(tx), {"encoding": "base64", **config}])


async def test_processed_then_confirmed_then_finalized_slot_by_slot(
        sim: SimnetServer, client: AsyncClient, wallet: Wallet) -> None:
    sim.pause()
    target = Keypair().pubkey()
    sig = (await send(sim, pay_tx(sim, wallet, target, 10**9)))["result"]
    assert (await rpc(sim, "getBalance", [str(target), {"commitment": "processed"}])
            )["result"]["value"] == 10**9
    assert (await rpc(sim, "getBalance", [str(target), {"commitment": "confirmed"}])
            )["result"]["value"] == 0
    assert (await rpc(sim, "getTransaction", [sig, {"commitment": "confirmed",
                                                     "maxSupportedTransactionVersion": 0}])
            )["result"] is None
    assert (await rpc(sim, "getSignaturesForAddress", [str(target)]))["result"] == []
    status = (await rpc(sim, "getSignatureStatuses", [[sig]]))["result"]["value"][0]
    assert (status["confirmationStatus"], status["confirmations"]) == ("processed", 0)

    sim.advance(1)
    status = (await rpc(sim, "getSignatureStatuses", [[sig]]))["result"]["value"][0]
    assert (status["confirmationStatus"], status["confirmations"]) == ("confirmed", 1)
    assert (await client.get_balance(target, Confirmed)).value == 10**9
    assert (await rpc(sim, "getBalance", [str(target)]))["result"]["value"] == 0  # finalized

    sim.advance(sim.ledger.finalize_depth - 1)
    status = (await rpc(sim, "getSignatureStatuses", [[sig]]))["result"]["value"][0]
    assert (status["confirmationStatus"], status["confirmations"]) == ("finalized", None)
    assert (await rpc(sim, "getBalance", [str(target)]))["result"]["value"] == 10**9


async def test_a_dead_fork_takes_the_transactions_built_on_it(
        sim: SimnetServer, client: AsyncClient, wallet: Wallet) -> None:
    sim.pause()
    a, b, bystander = Keypair().pubkey(), Keypair().pubkey(), Keypair().pubkey()
    first = pay_tx(sim, wallet, a, 10**9)
    assert "result" in await send(sim, first)
    sim.advance(0)
    second = pay_tx(sim, wallet, b, 2 * 10**9)  # spends from the same wallet: same fork
    assert "result" in await send(sim, second)
    other = sim.ledger.airdrop(bystander, 10**9)  # touches none of their accounts
    fee = sim.ledger.txs[str(first.signatures[0])].fee

    assert await sim.control({"action": "drop", "signature": str(first.signatures[0])})
    for key, lamports in ((a, 0), (b, 0), (bystander, 10**9),
                          (wallet.pubkey, 100 * 10**9)):
        assert (await client.get_balance(key, Processed)).value == lamports
    statuses = (await rpc(sim, "getSignatureStatuses", [
        [str(first.signatures[0]), str(second.signatures[0]), other.signature],
        {"searchTransactionHistory": True}]))["result"]["value"]
    assert statuses[:2] == [None, None]
    assert statuses[2]["slot"] == other.slot

    sim.advance(3)
    assert (await client.get_balance(bystander, Confirmed)).value == 10**9
    assert (await client.get_signatures_for_address(a)).value == []
    # the same signed bytes can land again on the surviving fork while the blockhash lives
    assert (await send(sim, first))["result"] == str(first.signatures[0])
    assert (await client.get_balance(wallet.pubkey, Processed)).value \
        == 100 * 10**9 - 10**9 - fee
    assert sim.ledger.drop(other.signature) is False  # already confirmed: not droppable


async def test_skip_preflight_answers_a_signature_the_leader_then_drops(
        sim: SimnetServer, wallet: Wallet) -> None:
    stale = pay_tx(sim, wallet, Keypair().pubkey(), 10**9, Hash.new_unique())
    checked = await send(sim, stale)
    assert checked["error"]["code"] == -32002
    assert checked["error"]["message"] == "Transaction simulation failed: Blockhash not found"
    assert checked["error"]["data"]["err"] == "BlockhashNotFound"
    unchecked = await send(sim, stale, skipPreflight=True)
    assert unchecked["result"] == str(stale.signatures[0])
    status = await rpc(sim, "getSignatureStatuses", [[unchecked["result"]],
                                                     {"searchTransactionHistory": True}])
    assert status["result"]["value"] == [None]

    broke = Keypair()
    unfunded = pay_tx(sim, Wallet(broke, wallet.client), wallet.pubkey, 1)
    error = (await send(sim, unfunded))["error"]
    assert error["code"] == -32002
    assert error["message"] == ("Transaction simulation failed: Attempt to debit an account "
                                "but found no record of a prior credit.")
    assert error["data"]["err"] == "AccountNotFound"

    forged = VersionedTransaction.populate(unfunded.message, [broke.sign_message(b"other")])
    assert (await send(sim, forged))["error"] == {
        "code": -32003, "message": "Transaction signature verification failure"}


async def test_fee_for_message_is_what_the_bank_charges(sim: SimnetServer, client: AsyncClient,
                                                        wallet: Wallet) -> None:
    blockhash = sim.ledger.latest_blockhash()[0]
    ixs = [set_compute_unit_limit(50_000), set_compute_unit_price(30_000),
           transfer(TransferParams(from_pubkey=wallet.pubkey, to_pubkey=Keypair().pubkey(),
                                   lamports=10**6))]
    message = MessageV0.try_compile(wallet.pubkey, ixs, [], blockhash)
    quoted = (await client.get_fee_for_message(message)).value
    assert quoted == 5000 + 1500  # 50,000 units x 30,000 micro-lamports
    record = sim.ledger.submit(VersionedTransaction(message, [wallet.keypair]))
    assert record.fee == quoted
    # no explicit limit: 3,000 units per builtin instruction (budget + transfer)
    priced = MessageV0.try_compile(wallet.pubkey, ixs[1:], [], blockhash)
    assert (await client.get_fee_for_message(priced)).value == 5000 + 180
    unknown = MessageV0.try_compile(wallet.pubkey, ixs, [], Hash.new_unique())
    assert (await rpc(sim, "getFeeForMessage", [base64.b64encode(bytes(unknown)).decode()])
            )["result"]["value"] is None
    assert (await rpc(sim, "getFeeForMessage", ["AAAA"]))["error"]["code"] == -32602


async def test_blockhash_per_commitment(sim: SimnetServer, client: AsyncClient,
                                        wallet: Wallet) -> None:
    await sim.wait_slots(sim.ledger.finalize_depth + 2)
    processed = (await client.get_latest_blockhash(Processed)).value
    finalized = (await client.get_latest_blockhash("finalized")).value
    assert processed.blockhash != finalized.blockhash
    assert processed.last_valid_block_height > finalized.last_valid_block_height
    # a finalized blockhash is older but still valid to send with
    tx = pay_tx(sim, wallet, Keypair().pubkey(), 10**6, finalized.blockhash)
    assert "result" in await send(sim, tx)


async def test_a_v0_payment_through_a_lookup_table_matches_the_real_shape(
        sim: SimnetServer, client: AsyncClient, wallet: Wallet) -> None:
    recipient = Keypair().pubkey()
    table = await wallet.create_lookup_table([Keypair().pubkey(), recipient])
    sig = await wallet.send([transfer(TransferParams(
        from_pubkey=wallet.pubkey, to_pubkey=recipient, lamports=10**7))], tables=[table])
    ours = await rpc(sim, "getTransaction", [sig, {
        "encoding": "jsonParsed", "commitment": "confirmed",
        "maxSupportedTransactionVersion": 0}])
    real = fixture("getTransaction_jsonParsed_sol_system_transfer_v0")
    assert_covers(real, ours)
    keys = ours["result"]["transaction"]["message"]["accountKeys"]
    assert keys[-1] == {"pubkey": str(recipient), "writable": True, "signer": False,
                        "source": "lookupTable"}
    assert ours["result"]["transaction"]["message"]["addressTableLookups"] == [
        {"accountKey": str(table.key), "writableIndexes": [1], "readonlyIndexes": []}]
    meta = ours["result"]["meta"]
    assert meta["loadedAddresses"] == {"writable": [str(recipient)], "readonly": []}
    assert meta["postBalances"][-1] - meta["preBalances"][-1] == 10**7
    # solana-py reads it too, and the recipient's history has it
    parsed = await client.get_transaction(Signature.from_string(sig), "json",
                                          max_supported_transaction_version=0)
    assert parsed.value.transaction.meta.loaded_addresses.writable == [recipient]
    assert [str(s.signature) for s in
            (await client.get_signatures_for_address(recipient)).value] == [sig]


async def test_token_2022_payment_is_parsed_as_spl_token_2022(sim: SimnetServer,
                                                              wallet: Wallet) -> None:
    mint = await wallet.create_mint(6, 10**9, program=TOKEN_2022_PROGRAM_ID)
    merchant, ref = Keypair().pubkey(), Keypair().pubkey()
    url = build_transfer_url(recipient=str(merchant), amount_base_units=2_500_000, decimals=6,
                             spl_token=str(mint), references=[str(ref)], memo="T22")
    sig = await wallet.pay(url)
    tx = (await rpc(sim, "getTransaction", [sig, {
        "encoding": "jsonParsed", "commitment": "confirmed",
        "maxSupportedTransactionVersion": 0}]))["result"]
    [checked] = [ix for ix in tx["transaction"]["message"]["instructions"]
                 if isinstance(ix.get("parsed"), dict)
                 and ix["parsed"]["type"] == "transferChecked"]
    assert checked["program"] == "spl-token-2022"
    assert checked["parsed"]["info"]["tokenAmount"]["amount"] == "2500000"
    [post] = [b for b in tx["meta"]["postTokenBalances"] if b["owner"] == str(merchant)]
    assert post["programId"] == str(TOKEN_2022_PROGRAM_ID)
    assert post["uiTokenAmount"] == {"amount": "2500000", "decimals": 6, "uiAmount": 2.5,
                                     "uiAmountString": "2.5"}
    history = (await rpc(sim, "getSignaturesForAddress", [str(ref)]))["result"]
    assert history == []  # default commitment finalized: not there yet
    history = (await rpc(sim, "getSignaturesForAddress", [str(ref),
                                                          {"commitment": "confirmed"}]))
    assert [h["memo"] for h in history["result"]] == ["[3] T22"]


async def test_history_and_versions_like_a_node(sim: SimnetServer, wallet: Wallet) -> None:
    target = Keypair().pubkey()
    sig = await wallet.airdrop(target, 10**9)
    unknown = str(Keypair().sign_message(b"never sent"))
    page = await rpc(sim, "getSignaturesForAddress", [str(target), {
        "commitment": "confirmed", "before": unknown}])
    assert page["result"] == []
    page = await rpc(sim, "getSignaturesForAddress", [str(target), {
        "commitment": "confirmed", "until": unknown}])
    assert [p["signature"] for p in page["result"]] == [sig]
    # a legacy transaction read by a legacy-only client: no "version" key at all
    legacy = VersionedTransaction.from_legacy(Transaction.new_signed_with_payer(
        [transfer(TransferParams(from_pubkey=wallet.pubkey, to_pubkey=target, lamports=1))],
        wallet.pubkey, [wallet.keypair], sim.ledger.latest_blockhash()[0]))
    legacy_sig = (await send(sim, legacy))["result"]
    await sim.wait_slots(2)
    old_client = await rpc(sim, "getTransaction", [legacy_sig, {"commitment": "confirmed"}])
    assert "version" not in old_client["result"]
    new_client = await rpc(sim, "getTransaction", [legacy_sig, {
        "commitment": "confirmed", "maxSupportedTransactionVersion": 0}])
    assert new_client["result"]["version"] == "legacy"
    assert "addressTableLookups" not in new_client["result"]["transaction"]["message"]


async def test_status_cache_without_search_history(sim: SimnetServer, wallet: Wallet) -> None:
    sig = await wallet.airdrop(Keypair().pubkey(), 10**9)
    sim.pause()
    sim.advance(301)
    recent_only = await rpc(sim, "getSignatureStatuses", [[sig]])
    assert recent_only["result"]["value"] == [None]
    searched = await rpc(sim, "getSignatureStatuses", [[sig],
                                                       {"searchTransactionHistory": True}])
    assert searched["result"]["value"][0]["confirmationStatus"] == "finalized"


async def test_get_block_options(sim: SimnetServer, wallet: Wallet) -> None:
    sig = await wallet.airdrop(Keypair().pubkey(), 10**9)
    slot = sim.ledger.txs[sig].slot
    below = await rpc(sim, "getBlock", [slot, {"commitment": "processed"}])
    assert below["error"] == {"code": -32602,
                              "message": "Method does not support commitment below `confirmed`"}
    sigs = (await rpc(sim, "getBlock", [slot, {"commitment": "confirmed",
                                               "transactionDetails": "signatures",
                                               "rewards": False}]))["result"]
    assert sigs["signatures"] == [sig]
    assert "rewards" not in sigs
    none = (await rpc(sim, "getBlock", [slot, {"commitment": "confirmed",
                                               "transactionDetails": "none"}]))["result"]
    assert "transactions" not in none
    assert "signatures" not in none
    accounts = (await rpc(sim, "getBlock", [slot, {
        "commitment": "confirmed", "transactionDetails": "accounts",
        "maxSupportedTransactionVersion": 0}]))["result"]
    [entry] = accounts["transactions"]
    assert entry["transaction"]["signatures"] == [sig]
    assert entry["transaction"]["accountKeys"][0]["signer"] is True
    full = (await rpc(sim, "getBlock", [slot, {"commitment": "confirmed", "encoding": "base64",
                                               "maxSupportedTransactionVersion": 0}]))
    raw = full["result"]["transactions"][0]["transaction"]
    assert raw[1] == "base64"
    assert str(VersionedTransaction.from_bytes(base64.b64decode(raw[0])).signatures[0]) == sig
    genesis = (await rpc(sim, "getBlock", [0]))["result"]
    assert (genesis["blockHeight"], genesis["transactions"]) == (0, [])
    assert genesis["blockhash"] == (await rpc(sim, "getGenesisHash", []))["result"]


async def test_simulate_unsigned_with_replaced_blockhash(sim: SimnetServer,
                                                         wallet: Wallet) -> None:
    ix = transfer(TransferParams(from_pubkey=wallet.pubkey, to_pubkey=Keypair().pubkey(),
                                 lamports=10**6))
    message = MessageV0.try_compile(wallet.pubkey, [ix], [], Hash.default())
    unsigned = VersionedTransaction.populate(message, [Signature.default()])
    stale = await rpc(sim, "simulateTransaction", [b64(unsigned), {"encoding": "base64"}])
    assert stale["result"]["value"]["err"] == "BlockhashNotFound"
    replaced = (await rpc(sim, "simulateTransaction", [b64(unsigned), {
        "encoding": "base64", "replaceRecentBlockhash": True}]))["result"]["value"]
    assert replaced["err"] is None
    assert replaced["unitsConsumed"] == 150
    assert replaced["replacementBlockhash"]["blockhash"] == str(
        sim.ledger.latest_blockhash("finalized")[0])
    both = await rpc(sim, "simulateTransaction", [b64(unsigned), {
        "encoding": "base64", "replaceRecentBlockhash": True, "sigVerify": True}])
    assert both["error"]["code"] == -32602
    forged = await rpc(sim, "simulateTransaction", [b64(unsigned), {
        "encoding": "base64", "sigVerify": True}])
    assert forged["error"]["code"] == -32003


async def test_bodies_over_50_kib_are_refused(sim: SimnetServer) -> None:
    padding = "x" * (51 * 1024)
    async with aiohttp.ClientSession() as s, s.post(sim.rpc_url, json={
            "jsonrpc": "2.0", "id": 1, "method": "getHealth", "params": [padding]}) as resp:
        assert resp.status == 413
    assert (await rpc(sim, "getHealth", []))["result"] == "ok"


async def test_control_endpoint_holds_and_moves_the_clock(sim: SimnetServer) -> None:
    async with aiohttp.ClientSession() as s:
        async def control(body: dict[str, Any]) -> Any:
            async with s.post(f"{sim.rpc_url}/_simnet/control", json=body) as resp:
                answer = await resp.json()
                assert resp.status == (200 if answer["ok"] else 400)
                return answer

        held = (await control({"action": "pause"}))["result"]
        assert held["paused"] is True
        moved = (await control({"action": "advance", "slots": 5}))["result"]
        assert moved == held["slot"] + 5
        assert (await rpc(sim, "getSlot", [{"commitment": "processed"}]))["result"] == moved
        assert (await control({"action": "resume"}))["result"]["paused"] is False
        await sim.wait_slots(1)
        assert (await control({"action": "teleport"}))["ok"] is False
        assert (await control({"action": "fail_next", "kind": "gremlins"}))["ok"] is False


async def test_ata_creation_shows_its_inner_instructions_parsed(sim: SimnetServer,
                                                                wallet: Wallet) -> None:
    mint = await wallet.create_mint(6)
    sig = await wallet.mint_to(mint, Keypair().pubkey(), 10**6)
    tx = (await rpc(sim, "getTransaction", [sig, {
        "encoding": "jsonParsed", "commitment": "confirmed",
        "maxSupportedTransactionVersion": 0}]))["result"]
    top = [ix["parsed"]["type"] for ix in tx["transaction"]["message"]["instructions"]]
    assert top == ["createIdempotent", "mintTo"]
    [inner] = tx["meta"]["innerInstructions"]
    assert inner["index"] == 0
    assert [(ix["program"], ix["parsed"]["type"], ix["stackHeight"])
            for ix in inner["instructions"]] == [
        ("spl-token", "getAccountDataSize", 2), ("system", "createAccount", 2),
        ("spl-token", "initializeImmutableOwner", 2), ("spl-token", "initializeAccount3", 2)]
    assert any(line.startswith("Program ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL "
                               "invoke [1]") for line in tx["meta"]["logMessages"])
    assert tx["meta"]["computeUnitsConsumed"] > 0
