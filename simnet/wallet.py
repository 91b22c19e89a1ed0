"""A simnet-only wallet for the demo and the tests: it pays Solana Pay transfer requests the way
a Solana Pay wallet does, over plain JSON-RPC. (paywatch itself never holds a key; this is the
customer's side of the demo, on a local test chain.)

A payment is compute-budget instructions first (as mobile wallets add them), then the memo when
the URL has one, then the transfer carrying the reference keys as read-only, non-signer
accounts: a System transfer for SOL, or transferChecked between associated token accounts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import TxOpts
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import CreateAccountParams, TransferParams, create_account, transfer
from solders.transaction import VersionedTransaction
from spl.token.constants import MINT_LEN, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    initialize_mint2,
    mint_to,
    transfer_checked,
)
from spl.token.models import InitializeMint2Params, MintToParams, TransferCheckedParams

from simnet.lookup import create_table, extend_table
from simnet.payurl import PayUrlError, base_units, read_transfer_url

MEMO_PROGRAM = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
CONFIRM_TIMEOUT_S = 30.0


class WalletError(Exception):
    pass


def load_keypair(path: Path) -> Keypair:
    """solana-keygen's format: a JSON array of the 64 secret-key bytes. Created when missing."""
    if path.exists():
        return Keypair.from_bytes(bytes(json.loads(path.read_text())))
    keypair = Keypair()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(bytes(keypair))))
    path.chmod(0o600)
    return keypair


class Wallet:
    def __init__(self, keypair: Keypair, client: AsyncClient) -> None:
        self.keypair, self.client = keypair, client

    @property
    def pubkey(self) -> Pubkey:
        return self.keypair.pubkey()

    async def send(self, instructions: list[Instruction],
                   signers: list[Keypair] | None = None,
                   tables: list[AddressLookupTableAccount] | None = None) -> str:
        blockhash = (await self.client.get_latest_blockhash(Confirmed)).value.blockhash
        message = MessageV0.try_compile(self.pubkey, instructions, tables or [], blockhash)
        tx = VersionedTransaction(message, [self.keypair, *(signers or [])])
        sig = (await self.client.send_transaction(
            tx, opts=TxOpts(preflight_commitment=Confirmed))).value
        await self.confirm(str(sig))
        return str(sig)

    async def confirm(self, signature: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONFIRM_TIMEOUT_S
        while loop.time() < deadline:
            status = (await self.client.get_signature_statuses(
                [Signature.from_string(signature)])).value[0]
            if status is not None and status.err is not None:
                raise WalletError(f"transaction {signature} failed: {status.err}")
            if status is not None and str(status.confirmation_status) in (
                    "TransactionConfirmationStatus.Confirmed",
                    "TransactionConfirmationStatus.Finalized"):
                return
            await asyncio.sleep(0.05)
        raise WalletError(f"transaction {signature} was not confirmed in time")

    async def airdrop(self, to: Pubkey, lamports: int) -> str:
        sig = (await self.client.request_airdrop(to, lamports)).value
        await self.confirm(str(sig))
        return str(sig)

    async def create_lookup_table(self, addresses: list[Pubkey]) -> AddressLookupTableAccount:
        """An address lookup table holding `addresses`, usable once this returns (its
        extension is confirmed, so a later slot than the one that wrote it)."""
        recent = (await self.client.get_slot(Confirmed)).value
        table, create = create_table(self.pubkey, self.pubkey, recent)
        await self.send([create, extend_table(table, self.pubkey, self.pubkey, addresses)])
        return AddressLookupTableAccount(table, addresses)

    async def create_mint(self, decimals: int = 6, supply: int = 0,
                          program: Pubkey = TOKEN_PROGRAM_ID) -> Pubkey:
        """A USDC-like mint with this wallet as authority, `supply` minted to its own ATA."""
        mint = Keypair()
        rent = (await self.client.get_minimum_balance_for_rent_exemption(MINT_LEN)).value
        ixs = [
            create_account(CreateAccountParams(from_pubkey=self.pubkey, to_pubkey=mint.pubkey(),
                                               lamports=rent, space=MINT_LEN, owner=program)),
            initialize_mint2(InitializeMint2Params(decimals=decimals, program_id=program,
                                                   mint=mint.pubkey(),
                                                   mint_authority=self.pubkey)),
        ]
        await self.send(ixs, [mint])
        if supply:
            await self.mint_to(mint.pubkey(), self.pubkey, supply, program)
        return mint.pubkey()

    async def mint_to(self, mint: Pubkey, owner: Pubkey, amount: int,
                      program: Pubkey = TOKEN_PROGRAM_ID) -> str:
        ata = get_associated_token_address(owner, mint, program)
        return await self.send([
            create_idempotent_associated_token_account(self.pubkey, owner, mint, program),
            mint_to(MintToParams(program_id=program, mint=mint, dest=ata,
                                 mint_authority=self.pubkey, amount=amount))])

    async def pay(self, url: str) -> str:
        try:
            request = read_transfer_url(url)
        except PayUrlError as exc:
            raise WalletError(str(exc)) from None
        if request.amount is None:
            raise WalletError("the transfer request has no amount; simnet's wallet pays "
                              "only requests that name one")
        recipient = request.recipient
        refs = [AccountMeta(r, is_signer=False, is_writable=False) for r in request.references]
        ixs = [set_compute_unit_limit(200_000), set_compute_unit_price(1)]
        if request.memo:
            ixs.append(Instruction(MEMO_PROGRAM, request.memo.encode(), []))
        if request.spl_token is None:
            lamports = base_units(request.amount, 9)
            ix = transfer(TransferParams(from_pubkey=self.pubkey, to_pubkey=recipient,
                                         lamports=lamports))
            ixs.append(Instruction(ix.program_id, ix.data, [*ix.accounts, *refs]))
        else:
            ixs += await self._spl_transfer(recipient, request.spl_token, request.amount, refs)
        return await self.send(ixs)

    async def _spl_transfer(self, recipient: Pubkey, mint: Pubkey, amount: str,
                            refs: list[AccountMeta]) -> list[Instruction]:
        account = (await self.client.get_account_info(mint, Confirmed)).value
        if account is None:
            raise WalletError(f"mint {mint} does not exist")
        program, decimals = account.owner, bytes(account.data)[44]
        source = get_associated_token_address(self.pubkey, mint, program)
        dest = get_associated_token_address(recipient, mint, program)
        ix = transfer_checked(TransferCheckedParams(
            program_id=program, source=source, mint=mint, dest=dest, owner=self.pubkey,
            amount=base_units(amount, decimals), decimals=decimals))
        return [create_idempotent_associated_token_account(self.pubkey, recipient, mint,
                                                           program),
                Instruction(ix.program_id, ix.data, [*ix.accounts, *refs])]
