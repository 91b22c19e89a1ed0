"""paywatch.core.txrequest, pure: the link, who may ask and for how much, how a reference
match is named, and the transaction's shape for each case (no database, no chain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from paywatch.core import txrequest
from paywatch.core.txrequest import ChainFacts, NotPayable, TxRequestPlan

NOW = datetime(2030, 1, 1, tzinfo=UTC)
PID = "0b7d2c4e-5f7a-4b8c-9d0e-1f2a3b4c5d6e"


@pytest.mark.parametrize(("public_url", "url"), [
    (None, None),
    ("https://pay.example.com", f"solana:https://pay.example.com/pay/{PID}/transaction-request"),
    ("http://127.0.0.1:8080", f"solana:http://127.0.0.1:8080/pay/{PID}/transaction-request"),
    ("http://pay.example.com", None),  # wallets only follow https
])
def test_the_link_needs_a_public_url_wallets_follow(public_url: str | None,
                                                    url: str | None) -> None:
    assert txrequest.request_url(public_url, PID) == url


def _row(**values: object) -> dict[str, object]:
    return {"status": "pending", "exception": None, "amount_due": 1000, "amount_received": 0,
            "expires_at": NOW + timedelta(minutes=5), **values}


@pytest.mark.parametrize(("row", "answer"), [
    (_row(), 1000),
    (_row(status="detected", exception="underpaid", amount_received=300), 700),
    (_row(expires_at=NOW), 410),
    (_row(status="detected"), 409),
    (_row(status="detected", exception="underpaid", expires_at=NOW), 409),
    (_row(status="confirmed"), 409),
    (_row(status="cancelled"), 410),
    (_row(status="expired"), 410),
    (_row(status="invalid"), 410),
])
def test_what_may_be_asked_for(row: dict[str, object], answer: int) -> None:
    if answer in (409, 410):
        with pytest.raises(NotPayable) as refused:
            txrequest.amount_requested(row, NOW)
        assert refused.value.status == answer
        assert refused.value.message
    else:
        assert txrequest.amount_requested(row, NOW) == answer


def test_an_account_must_be_able_to_sign() -> None:
    key = Keypair().pubkey()
    assert txrequest.parse_account(str(key)) == key
    pda, _bump = Pubkey.find_program_address([b"x"], TOKEN_PROGRAM_ID)
    for bad in (None, 7, "", "x" * 45, "0" * 40, str(pda)):
        with pytest.raises(ValueError, match="account"):
            txrequest.parse_account(bad)


def test_matched_by_names_the_transaction_request_only_for_its_payer() -> None:
    assert txrequest.matched_by("A", "A") == "transaction_request"
    assert txrequest.matched_by("A", "B") == "reference"
    assert txrequest.matched_by(None, None) == "reference"
    assert txrequest.matched_by(None, "B") == "reference"


def _plan(**values: object) -> TxRequestPlan:
    base: dict[str, object] = {
        "payer": Keypair().pubkey(), "recipient": str(Keypair().pubkey()), "mint": None,
        "decimals": 9, "amount": 5, "reference": str(Keypair().pubkey()), "memo": None}
    return TxRequestPlan(**{**base, **values})  # type: ignore[arg-type]


BLOCKHASH = str(Hash.new_unique())


@pytest.mark.parametrize(("plan", "facts", "programs"), [
    (_plan(), ChainFacts(BLOCKHASH), ["budget", "budget", "system"]),
    (_plan(memo="héllo"), ChainFacts(BLOCKHASH), ["budget", "budget", "memo", "system"]),
    (_plan(mint=str(Keypair().pubkey()), decimals=6),
     ChainFacts(BLOCKHASH, TOKEN_PROGRAM_ID, True), ["budget", "budget", "token"]),
    (_plan(mint=str(Keypair().pubkey()), decimals=6, memo="m"),
     ChainFacts(BLOCKHASH, TOKEN_2022_PROGRAM_ID, False),
     ["budget", "budget", "ata", "memo", "token2022"]),
])
def test_the_transaction_for_each_case(plan: TxRequestPlan, facts: ChainFacts,
                                       programs: list[str]) -> None:
    names = {"ComputeBudget111111111111111111111111111111": "budget",
             "11111111111111111111111111111111": "system",
             "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr": "memo",
             "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL": "ata",
             str(TOKEN_PROGRAM_ID): "token", str(TOKEN_2022_PROGRAM_ID): "token2022"}
    tx = Transaction.from_bytes(txrequest.build_transaction(plan, facts))
    message = tx.message
    assert message.account_keys[0] == plan.payer
    assert message.header.num_required_signatures == 1
    assert str(message.recent_blockhash) == BLOCKHASH
    assert [names[str(message.account_keys[ix.program_id_index])]
            for ix in message.instructions] == programs
    limit = int.from_bytes(bytes(message.instructions[0].data)[1:5], "little")
    assert limit == txrequest.compute_unit_limit(plan, facts) <= 200_000
    # The reference is the transfer's last key, read-only and not a signer.
    last = message.instructions[-1].accounts[-1]
    assert message.account_keys[last] == Pubkey.from_string(plan.reference)
    assert not message.is_signer(last)
    assert last >= len(message.account_keys) - message.header.num_readonly_unsigned_accounts


def test_a_mint_without_a_token_program_is_refused() -> None:
    plan = _plan(mint=str(Keypair().pubkey()))
    with pytest.raises(ValueError, match="token program"):
        txrequest.build_transaction(plan, ChainFacts(BLOCKHASH, Keypair().pubkey(), True))
