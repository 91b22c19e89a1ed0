"""The matcher on real transactions executed by simnet (and one recorded on mainnet)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import base58
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import get_associated_token_address

from paywatch.core.solanapay import build_transfer_url
from simnet.methods import Methods
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from watcher.solana.matcher import (
    NOT_BY_AMOUNT,
    OpenPayment,
    WatchedAccount,
    match_transaction,
)

WSOL = "So11111111111111111111111111111111111111112"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "solana"


def fetch(sim: SimnetServer, sig: str) -> dict[str, Any]:
    return Methods(sim.ledger).call("getTransaction", [sig, {
        "encoding": "json", "commitment": "confirmed",
        "maxSupportedTransactionVersion": 0}])


def payment(ref: Pubkey, recipient: Pubkey, mint: Pubkey | None = None,
            memo: str | None = None, pid: str = "p1") -> OpenPayment:
    return OpenPayment(pid, str(ref), str(recipient), "USDC" if mint else "SOL",
                       str(mint) if mint else None, memo)


def sol_ix(wallet: Wallet, to: Pubkey, lamports: int, *refs: Pubkey) -> Instruction:
    ix = transfer(TransferParams(from_pubkey=wallet.pubkey, to_pubkey=to, lamports=lamports))
    return Instruction(ix.program_id, ix.data, [*ix.accounts, *(
        AccountMeta(r, is_signer=False, is_writable=False) for r in refs)])


async def test_sol_usdc_and_memo(sim: SimnetServer, wallet: Wallet) -> None:
    merchant, ref = Keypair().pubkey(), Keypair().pubkey()
    url = build_transfer_url(recipient=str(merchant), amount_base_units=1_500_000_000,
                             decimals=9, spl_token=None, references=[str(ref)], memo="ORD-1")
    tx = fetch(sim, await wallet.pay(url))
    ok = payment(ref, merchant, memo="ORD-1")
    [found] = match_transaction(tx, {str(ref): ok}.get)
    assert (found.payment_id, found.amount, found.reject_reason) == ("p1", 1_500_000_000, None)
    assert found.index == 3  # after two compute-budget instructions and the memo
    [wrong] = match_transaction(tx, {str(ref): payment(ref, merchant, memo="ORD-2")}.get)
    assert wrong.reject_reason == "memo mismatch: expected 'ORD-2'"
    [other] = match_transaction(tx, {str(ref): payment(ref, Keypair().pubkey())}.get)
    assert other.reject_reason.startswith("wrong recipient")

    mint = await wallet.create_mint(6, 10**12)
    ref2 = Keypair().pubkey()
    url = build_transfer_url(recipient=str(merchant), amount_base_units=19_990_000,
                             decimals=6, spl_token=str(mint), references=[str(ref2)])
    tx = fetch(sim, await wallet.pay(url))
    [usdc] = match_transaction(tx, {str(ref2): payment(ref2, merchant, mint)}.get)
    assert (usdc.amount, usdc.reject_reason) == (19_990_000, None)
    assert usdc.recipient == str(get_associated_token_address(merchant, mint, TOKEN_PROGRAM_ID))
    [bad_mint] = match_transaction(tx, {str(ref2): payment(ref2, merchant,
                                                           Keypair().pubkey())}.get)
    assert bad_mint.reject_reason.startswith("wrong mint")
    [sol_for_token] = match_transaction(tx, {str(ref2): payment(ref2, merchant)}.get)
    assert sol_for_token.reject_reason == "a token transfer for a SOL payment"


async def test_two_payments_in_one_transaction_and_ambiguity(sim: SimnetServer,
                                                              wallet: Wallet) -> None:
    merchant = Keypair().pubkey()
    r1, r2 = Keypair().pubkey(), Keypair().pubkey()
    sig = await wallet.send([sol_ix(wallet, merchant, 10**9, r1),
                             sol_ix(wallet, merchant, 2 * 10**9, r2)])
    index = {str(r1): payment(r1, merchant, pid="a"), str(r2): payment(r2, merchant, pid="b")}
    found = match_transaction(fetch(sim, sig), index.get)
    assert [(f.index, f.payment_id, f.amount) for f in found] == [(0, "a", 10**9),
                                                                  (1, "b", 2 * 10**9)]
    sig = await wallet.send([sol_ix(wallet, merchant, 10**9, r1, r2)])
    [ambiguous] = match_transaction(fetch(sim, sig), index.get)
    assert ambiguous.payment_id is None
    assert ambiguous.reject_reason.startswith("ambiguous")
    assert ambiguous.amount == 0


async def test_failed_and_non_transfer_instructions_are_rejected(sim: SimnetServer,
                                                                 wallet: Wallet) -> None:
    import base64

    from solders.message import MessageV0
    from solders.transaction import VersionedTransaction

    merchant, ref = Keypair().pubkey(), Keypair().pubkey()
    blockhash, _ = sim.ledger.latest_blockhash()
    message = MessageV0.try_compile(wallet.pubkey, [sol_ix(wallet, merchant, 10**15, ref)], [],
                                    blockhash)
    raw = base64.b64encode(bytes(VersionedTransaction(message, [wallet.keypair]))).decode()
    sig = Methods(sim.ledger).call("sendTransaction", [raw, {"encoding": "base64",
                                                             "skipPreflight": True}])
    await sim.wait_slots(2)
    [failed] = match_transaction(fetch(sim, sig), {str(ref): payment(ref, merchant)}.get)
    assert failed.reject_reason.startswith("transaction failed")

    from solders.compute_budget import set_compute_unit_limit

    limit = set_compute_unit_limit(100_000)
    budget_with_ref = Instruction(limit.program_id, limit.data,
                                  [AccountMeta(ref, is_signer=False, is_writable=False)])
    sig = await wallet.send([budget_with_ref, sol_ix(wallet, merchant, 10**9)])
    [odd] = match_transaction(fetch(sim, sig), {str(ref): payment(ref, merchant)}.get)
    assert odd.reject_reason == "the reference is on an instruction that is not a transfer"


def _jsonize(parsed_ix: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """A jsonParsed instruction in the json form the matcher reads (the fixture's inner
    spl-token transfer is parsed: its data is rebuilt from what the node parsed)."""
    if "parsed" not in parsed_ix:
        return {"programIdIndex": keys.index(parsed_ix["programId"]),
                "accounts": [keys.index(a) for a in parsed_ix.get("accounts", [])],
                "data": parsed_ix.get("data", "")}
    info = parsed_ix["parsed"]["info"]
    assert parsed_ix["parsed"]["type"] == "transfer"
    data = b"\x03" + int(info["amount"]).to_bytes(8, "little")
    return {"programIdIndex": keys.index(parsed_ix["programId"]),
            "accounts": [keys.index(info[k]) for k in ("source", "destination", "authority")],
            "data": base58.b58encode(data).decode(), "stackHeight": 2}


def test_a_recorded_mainnet_transaction_without_references_matches_nothing() -> None:
    tx = json.loads((FIXTURES / "getBlock_jsonParsed_tx_with_spl_token_balances.json")
                    .read_text())
    keys = [k["pubkey"] for k in tx["transaction"]["message"]["accountKeys"]]
    meta = dict(tx["meta"], innerInstructions=[
        {"index": g["index"], "instructions": [_jsonize(ix, keys) for ix in g["instructions"]]}
        for g in tx["meta"]["innerInstructions"]])
    raw = {"meta": meta, "transaction": {"message": {"accountKeys": keys, "instructions": [
        _jsonize(ix, keys) for ix in tx["transaction"]["message"]["instructions"]]}}}
    recipient = tx["meta"]["postTokenBalances"][0]["owner"]
    index = {recipient: None}
    assert match_transaction(raw, index.get) == []
    # Its inner transfer goes into a token account of the wallet that signed it: the owner
    # moving its own money is not incoming, even into a watched account.
    info = tx["meta"]["innerInstructions"][0]["instructions"][0]["parsed"]["info"]
    dest, authority = info["destination"], info["authority"]
    own = WatchedAccount(authority, "wSOL", WSOL, "store", True)
    assert match_transaction(raw, index.get, {dest: own}.get) == []
    # Watched for another wallet, it is incoming, made inside a program, and in the inbox.
    other = WatchedAccount(str(Keypair().pubkey()), "wSOL", WSOL, "store", False)
    [inbox] = match_transaction(raw, index.get, {dest: other}.get)
    assert (inbox.index, inbox.via_program, inbox.payment_id, inbox.store_id) == (
        10_000, True, None, "store")
    assert (inbox.amount, inbox.unmatched_reason) == (12_500, NOT_BY_AMOUNT)
