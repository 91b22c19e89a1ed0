"""The matcher on getTransaction answers in mainnet's `json` shape (tests/fixtures/solana,
written by make_cpi_fixtures.py): transfers made inside a smart wallet's program call (Squads v4
vaultTransactionExecute), a recipient loaded from a lookup table, and the wrong cases."""

from __future__ import annotations

import copy
import json
from typing import Any

from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import get_associated_token_address

from tests.watcher.test_matcher import FIXTURES
from watcher.solana.matcher import (
    FOREIGN_REFERENCE,
    NO_PAYMENT_OF_AMOUNT,
    OpenPayment,
    WatchedAccount,
    match_transaction,
)

USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"getTransaction_json_{name}.json").read_text())["result"]


def inner_transfer(tx: dict[str, Any]) -> dict[str, Any]:
    return tx["meta"]["innerInstructions"][0]["instructions"][0]


def keys_of(tx: dict[str, Any], ix: dict[str, Any]) -> list[str]:
    keys = tx["transaction"]["message"]["accountKeys"]
    return [keys[a] for a in ix["accounts"]]


def test_a_squads_vault_sol_transfer_carrying_our_reference_matches() -> None:
    tx = load("squads_v4_execute_sol_transfer")
    vault, merchant, reference = keys_of(tx, inner_transfer(tx))
    paying = OpenPayment("p1", reference, merchant, "SOL", None, None)
    # The execute instruction passes the reference on too: only the transfer counts.
    [found] = match_transaction(tx, {reference: paying}.get)
    assert (found.payment_id, found.matched_by, found.via_program) == ("p1", "reference", True)
    assert (found.index, found.amount, found.sender) == (30_000, 2_500_000_000, vault)
    assert found.reject_reason is None


def test_a_squads_vault_transfer_checked_carrying_our_reference_matches() -> None:
    tx = load("squads_v4_execute_token_transfer_checked")
    _source, mint, dest, vault, reference = keys_of(tx, inner_transfer(tx))
    merchant = next(b["owner"] for b in tx["meta"]["postTokenBalances"]
                    if tx["transaction"]["message"]["accountKeys"][b["accountIndex"]] == dest)
    assert dest == str(get_associated_token_address(
        Pubkey.from_string(merchant), Pubkey.from_string(USDC), TOKEN_PROGRAM_ID))
    paying = OpenPayment("p2", reference, merchant, "USDC", mint, None)
    [found] = match_transaction(tx, {reference: paying}.get)
    assert (found.payment_id, found.amount, found.via_program) == ("p2", 49_990_000, True)
    assert found.sender == vault
    # the same transfer when the payment asked for another mint or another wallet
    [wrong] = match_transaction(tx, {reference: OpenPayment(
        "p2", reference, merchant, "USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY5NH6xWyhwDLbYP",
        None)}.get)
    assert wrong.reject_reason.startswith("wrong mint")
    [elsewhere] = match_transaction(tx, {reference: OpenPayment(
        "p2", reference, vault, "USDC", mint, None)}.get)
    assert elsewhere.reject_reason.startswith("wrong recipient")
    # into the merchant's watched account, the wrong payment's money waits in the inbox
    watched = {dest: WatchedAccount(merchant, "USDC", USDC, "s1", False)}
    [inbox] = match_transaction(tx, {reference: OpenPayment(
        "p2", reference, merchant, "USDC", USDC, "ORD-1")}.get, watched.get)
    assert inbox.unmatched_reason == "memo mismatch: expected 'ORD-1' (payment p2)"
    assert (inbox.payment_id, inbox.store_id, inbox.amount) == (None, "s1", 49_990_000)


def test_an_inner_transfer_without_our_reference_matches_by_unique_amount() -> None:
    tx = load("squads_v4_execute_sol_transfer")
    _vault, merchant, reference = keys_of(tx, inner_transfer(tx))
    watched = {merchant: WatchedAccount(merchant, "SOL", None, "s1", True)}
    asked = OpenPayment("p3", "Ref1111111111111111111111111111111111111111", merchant, "SOL",
                        None, None, 2_500_000_000)
    amounts = {(merchant, None, 2_500_000_000): asked}

    def by_amount(wallet: str, mint: str | None, amount: int) -> OpenPayment | None:
        return amounts.get((wallet, mint, amount))

    # The fixture's transfer carries a reference that is none of ours: it is meant for a
    # payment we do not watch, so it does not pay whoever asks the same amount.
    [foreign] = match_transaction(tx, {}.get, watched.get, by_amount)
    assert (foreign.payment_id, foreign.unmatched_reason) == (None, FOREIGN_REFERENCE)
    plain = copy.deepcopy(tx)
    inner_transfer(plain)["accounts"] = inner_transfer(plain)["accounts"][:2]
    [found] = match_transaction(plain, {}.get, watched.get, by_amount)
    assert (found.payment_id, found.matched_by, found.via_program) == (
        "p3", "unique_amount", True)
    amounts.clear()
    [none] = match_transaction(plain, {}.get, watched.get, by_amount)
    assert (none.payment_id, none.unmatched_reason, none.amount) == (
        None, NO_PAYMENT_OF_AMOUNT, 2_500_000_000)
    # a failed transaction moved nothing: not even the inbox hears of it
    failed = copy.deepcopy(plain)
    failed["meta"]["err"] = {"InstructionError": [2, {"Custom": 1}]}
    failed["meta"]["status"] = {"Err": failed["meta"]["err"]}
    assert match_transaction(failed, {}.get, watched.get, by_amount) == []
    # with our reference on the inner transfer it is rejected against the payment instead
    failed_ref = copy.deepcopy(tx)
    failed_ref["meta"]["err"] = failed["meta"]["err"]
    [rejected] = match_transaction(failed_ref, {reference: asked}.get)
    assert (rejected.index, rejected.payment_id) == (30_000, "p3")
    assert rejected.reject_reason.startswith("transaction failed")
    # a reference only on the program call, on no transfer: rejected as not a transfer
    [odd] = match_transaction(plain, {reference: asked}.get)
    assert (odd.index, odd.reject_reason) == (
        2, "the reference is on an instruction that is not a transfer")


def test_an_inner_transfer_with_two_references_is_ambiguous() -> None:
    tx = load("squads_v4_execute_sol_transfer")
    _vault, merchant, reference = keys_of(tx, inner_transfer(tx))
    keys = tx["transaction"]["message"]["accountKeys"]
    other = keys[keys.index(reference) + 1]  # the System program: a key both carry
    inner_transfer(tx)["accounts"].append(keys.index(other))
    index = {reference: OpenPayment("a", reference, merchant, "SOL", None, None),
             other: OpenPayment("b", other, merchant, "SOL", None, None)}
    [ambiguous] = match_transaction(tx, index.get)
    assert ambiguous.payment_id is None
    assert ambiguous.reject_reason.startswith("ambiguous")
    watched = {merchant: WatchedAccount(merchant, "SOL", None, "s1", True)}
    [inbox] = match_transaction(tx, index.get, watched.get)
    assert inbox.unmatched_reason.startswith("ambiguous")


def test_a_recipient_from_a_lookup_table_is_watched_and_credited() -> None:
    tx = load("v0_lookup_table_sol_transfer")
    recipient = tx["meta"]["loadedAddresses"]["writable"][0]
    assert recipient not in tx["transaction"]["message"]["accountKeys"]
    watched = {recipient: WatchedAccount(recipient, "SOL", None, "s1", False)}
    [inbox] = match_transaction(tx, {}.get, watched.get)
    assert (inbox.index, inbox.via_program, inbox.amount, inbox.recipient) == (
        0, False, 10_000_000, recipient)
    assert inbox.unmatched_reason == "no reference and the store does not match by amount"
    asked = OpenPayment("p4", "Ref1111111111111111111111111111111111111111", recipient, "SOL",
                        None, None, 10_000_000)
    [paid] = match_transaction(tx, {}.get, watched.get,
                               lambda w, m, a: asked if (w, m, a) == (recipient, None,
                                                                      10_000_000) else None)
    assert (paid.payment_id, paid.matched_by) == ("p4", "unique_amount")
