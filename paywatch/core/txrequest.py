"""Solana Pay Transaction Requests, keyless: the link, the rules, and the transaction, pure.

The link: `solana:<https link>`, the spec's Transaction Request. paywatch serves one link per
Solana payment, `{PAYWATCH_PUBLIC_URL}/pay/{payment_id}/transaction-request` (api/txrequest.py):
GET answers `{label, icon}`, POST with `{account}` answers an unsigned transaction built here
for that account to sign. The link has no query string, so it is not percent-encoded (the spec
encodes a link only when it has one, to keep the QR code small).

The transaction is LEGACY (what @solana/pay's fetchTransaction deserializes), with no signature
of ours: the customer's account is the fee payer and the only signer. Its instructions, in the
order the spec and wallets expect:
  1. compute budget: unit limit (sized for what follows) and unit price;
  2. the merchant's associated token account, created idempotently, only when it is missing;
  3. the memo, right before the transfer, when the payment asked for one;
  4. the transfer, last: a System transfer for SOL, transferChecked for Token and Token-2022
     (the mint's own program and decimals), with our reference as a read-only non-signer key.
The watcher then matches it by its reference like any Solana Pay transfer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import TransferCheckedParams

from paywatch.core.money import format_units

PATH = "/pay/{id}/transaction-request"
MEMO_PROGRAM = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
_LOOPBACK = ("127.0.0.1", "::1", "localhost")

# Compute units each part may use, with headroom (a Token-2022 mint with extensions costs more
# than a plain one); the sum is the limit, so the customer's priority fee pays for no more.
UNITS_BUDGET = 300           # the two compute-budget instructions
UNITS_SOL_TRANSFER = 1_000
UNITS_TOKEN_TRANSFER = 40_000
UNITS_CREATE_ACCOUNT = 60_000
UNITS_MEMO = 10_000          # plus per byte: the memo program validates and logs the text
UNITS_MEMO_PER_BYTE = 100
# The priority fee, in micro-lamports per unit: at most ~0.000002 SOL for the largest request,
# enough to be scheduled promptly without paying for a congested block's auction.
MICRO_LAMPORTS_PER_UNIT = 10_000


# ----- the link ------------------------------------------------------------------------------

def offered(public_url: str | None) -> bool:
    """Whether this deployment can offer Transaction Requests: wallets fetch the link from the
    internet, so it must be absolute under PAYWATCH_PUBLIC_URL; the spec wants https (http is
    accepted on a loopback host only, for local tests; wallets will not follow it)."""
    if not public_url:
        return False
    parts = urlsplit(public_url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)


def link(public_url: str | None, payment_id: Any) -> str | None:
    """The https link wallets GET and POST; None when none can be offered."""
    if not offered(public_url):
        return None
    return f"{public_url}{PATH.format(id=payment_id)}"


def request_url(public_url: str | None, payment_id: Any) -> str | None:
    """`solana:<link>`, percent-encoded only when the link has a query (ours has none)."""
    target = link(public_url, payment_id)
    if target is None:
        return None
    return "solana:" + (quote(target, safe="") if "?" in target else target)


# ----- who may ask, and for how much ---------------------------------------------------------

class NotPayable(Exception):
    """The payment takes no transaction now: `status` is the HTTP status the spec's error
    carries (404 unknown, 409 paid or on its way, 410 closed), `message` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def amount_requested(row: Mapping[str, Any], now: datetime) -> int:
    """Base units the transaction asks for: the amount due while pending, what is still missing
    while an underpaid payment waits for the rest (the remainder request's rule); NotPayable
    otherwise."""
    status, exception = row["status"], row["exception"]
    open_ = row["expires_at"] > now
    if status == "pending" and open_:
        return int(row["amount_due"])
    missing = int(row["amount_due"]) - int(row["amount_received"])
    if status == "detected" and exception == "underpaid" and open_ and missing > 0:
        return missing
    if status == "detected":
        raise NotPayable(409, "this payment is already on its way; do not pay it again")
    if status == "confirmed":
        raise NotPayable(409, "this payment is already paid")
    if status == "cancelled":
        raise NotPayable(410, "this payment was cancelled by the store; do not pay it")
    raise NotPayable(410, "this payment request has expired; start a new payment at the store")


def parse_account(value: Any) -> Pubkey:
    """The POST's `account`: a base58 public key ON the ed25519 curve (an off-curve address,
    such as a token account or a program-derived address, has no private key to sign with).
    ValueError says what is wrong."""
    if not isinstance(value, str) or not 32 <= len(value) <= 44:
        raise ValueError("account must be a base58 Solana public key (32 to 44 characters)")
    try:
        key = Pubkey.from_string(value)
    except ValueError:
        raise ValueError("account is not a valid base58 Solana public key") from None
    if not key.is_on_curve():
        raise ValueError("account is off the ed25519 curve (a program-derived or token "
                         "account): send the wallet's own address, which can sign")
    return key


def matched_by(payer: str | None, sender: str | None) -> str:
    """How a transfer that carries a payment's reference matched it: 'transaction_request'
    when the account that asked for the Transaction Request sent it, else 'reference'."""
    return "transaction_request" if payer is not None and payer == sender else "reference"


def message(amount: int, decimals: int, asset: str, store: str) -> str:
    """The POST answer's `message`, which wallets show (at least its first 80 characters)."""
    return f"Pay {format_units(amount, decimals)} {asset} to {store}"[:200]


# ----- the transaction -----------------------------------------------------------------------

@dataclass(frozen=True)
class TxRequestPlan:
    """What the payment says: who pays, whom, what and how much (base units)."""
    payer: Pubkey
    recipient: str               # the merchant's wallet
    mint: str | None             # None for SOL
    decimals: int
    amount: int
    reference: str
    memo: str | None


@dataclass(frozen=True)
class ChainFacts:
    """What the chain says right now (the Solana adapter reads it over RPC)."""
    blockhash: str
    token_program: Pubkey | None = None   # the mint's owner program (None for SOL)
    recipient_account_exists: bool = True  # the merchant's associated token account


def compute_unit_limit(plan: TxRequestPlan, facts: ChainFacts) -> int:
    units = UNITS_BUDGET
    if plan.memo:
        units += UNITS_MEMO + UNITS_MEMO_PER_BYTE * len(plan.memo.encode())
    if plan.mint is None:
        return units + UNITS_SOL_TRANSFER
    units += UNITS_TOKEN_TRANSFER
    if not facts.recipient_account_exists:
        units += UNITS_CREATE_ACCOUNT
    return units


def instructions(plan: TxRequestPlan, facts: ChainFacts) -> list[Instruction]:
    ixs = [set_compute_unit_limit(compute_unit_limit(plan, facts)),
           set_compute_unit_price(MICRO_LAMPORTS_PER_UNIT)]
    recipient = Pubkey.from_string(plan.recipient)
    if plan.mint is None:
        pay = transfer(TransferParams(from_pubkey=plan.payer, to_pubkey=recipient,
                                      lamports=plan.amount))
    else:
        mint, program = Pubkey.from_string(plan.mint), facts.token_program
        if program not in TOKEN_PROGRAMS:
            raise ValueError(f"mint {plan.mint} is not owned by a token program")
        if not facts.recipient_account_exists:
            ixs.append(create_idempotent_associated_token_account(plan.payer, recipient, mint,
                                                                  program))
        pay = transfer_checked(TransferCheckedParams(
            program_id=program, mint=mint, amount=plan.amount, decimals=plan.decimals,
            source=get_associated_token_address(plan.payer, mint, program),
            dest=get_associated_token_address(recipient, mint, program), owner=plan.payer))
    if plan.memo:
        # No signer on the memo: the spec's wallets add none, and the payer signs anyway.
        ixs.append(Instruction(MEMO_PROGRAM, plan.memo.encode(), []))
    reference = AccountMeta(Pubkey.from_string(plan.reference), is_signer=False,
                            is_writable=False)
    ixs.append(Instruction(pay.program_id, pay.data, [*pay.accounts, reference]))
    return ixs


def build_transaction(plan: TxRequestPlan, facts: ChainFacts) -> bytes:
    """The unsigned legacy transaction, serialized (one empty signature slot: the payer's)."""
    msg = Message.new_with_blockhash(instructions(plan, facts), plan.payer,
                                     Hash.from_string(facts.blockhash))
    return bytes(Transaction.new_unsigned(msg))
