"""Solana Pay Transaction Requests judged by the official clients: a wallet (node, @solana/pay
1.x and 0.2) parses our `solana:https://...` link, fetches the transaction from our API over
https, signs it with a fresh funded keypair and sends it to simnet; the watcher confirms the
payment by its reference and the payment records the payer. SOL with a memo, a Token mint whose
merchant token account does not exist yet, the same mint again (it exists now) with a memo, and
a Token-2022 mint."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_2022_PROGRAM_ID
from spl.token.instructions import get_associated_token_address

from api.app import build_app
from db import stores
from paywatch.chains import build_chains
from paywatch.core.settings import Settings
from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import free_port, make_store
from tests.watcher.harness import Harness, harness

JS = Path(__file__).resolve().parent.parent / "js"
pytestmark = pytest.mark.skipif(
    not (JS / "node_modules").is_dir() or shutil.which("node") is None
    or shutil.which("openssl") is None,
    reason="node, tests/js/node_modules and openssl are needed (scripts/test runs npm ci)")


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1: wallets follow https links only (parseURL refuses http)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    with (folder / "openssl.log").open("wb") as log:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "36500",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)],
                       stdout=log, stderr=log, check=True, timeout=60)
    return cert, key


@pytest.fixture
async def https_api(sim: SimnetServer, db_dsn: str, pool: asyncpg.Pool,
                    tmp_path: Path) -> AsyncIterator[tuple[TestClient, Path]]:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    port = free_port()
    settings = Settings(database_url=db_dsn, data_dir=tmp_path, _env_file=None,
                        public_url=f"https://127.0.0.1:{port}",
                        solana_rpc_urls=[sim.rpc_url], solana_ws_urls=[sim.ws_url],
                        api_rate_limit_per_minute=10**9,
                        static_prices={"SOL": "150", "USDC": "1", "PYUSD": "1"})
    app = build_app(settings, pool, chains=build_chains(settings))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server(ssl=server_ctx)  # TestClient would start it without TLS
    client = TestClient(server, connector=aiohttp.TCPConnector(ssl=client_ctx))
    yield client, cert
    await client.close()


@pytest.fixture
async def h(sim: SimnetServer, pool: asyncpg.Pool, https_api: tuple[TestClient, Path],
            wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, https_api[0], await make_store(pool, "txshop"),
                       wallet) as hh:
        yield hh


async def node(tmp: Path, cert: Path, sim: SimnetServer, requests: list[dict[str, Any]]) -> dict:
    """Run the wallet script; its output goes to files (never an unread pipe)."""
    given, answer, log = tmp / "requests.json", tmp / "paid.json", tmp / "node.log"
    given.write_text(json.dumps(requests))
    env = {"PATH": os.environ["PATH"], "NODE_EXTRA_CA_CERTS": str(cert)}
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            "node", str(JS / "txrequest_flow.mjs"), sim.rpc_url, sim.ws_url, str(given),
                str(answer),
            stdout=out, stderr=out, env=env)
        code = await asyncio.wait_for(proc.wait(), 180)
    assert code == 0, log.read_text()[-4000:]
    return json.loads(answer.read_text())


async def funded_payer(h: Harness, mints: list[tuple[Pubkey, Pubkey]]) -> Keypair:
    """A fresh customer: SOL for fees and rent, and tokens of each (mint, program)."""
    payer = Keypair()
    await h.wallet.airdrop(payer.pubkey(), 10 * 10**9)
    for mint, program in mints:
        await h.wallet.mint_to(mint, payer.pubkey(), 1_000 * 10**6, program)
    return payer


async def test_official_wallet_pays_transaction_requests(h: Harness, tmp_path: Path,
                                                         https_api: tuple[TestClient, Path]
                                                         ) -> None:
    from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_PROGRAM_ID

    token22 = await h.wallet.create_mint(6, 10**13, program=TOKEN_2022_PROGRAM_ID)
    async with h.pool.acquire() as conn:
        store = await conn.fetchrow("SELECT id FROM stores WHERE slug = 'txshop'")
        await stores.upsert_store_asset(conn, store["id"], "solana", "PYUSD", str(token22), 6)
    mint = Pubkey.from_string(h.mint)
    merchant_ata = get_associated_token_address(h.merchant.pubkey(), mint)
    assert (await h.wallet.client.get_account_info(merchant_ata)).value is None
    await h.start_watcher()

    payments = [await h.create("30", memo="ORD-TX-1"),      # SOL, with a memo
                await h.create("19.99", "USDC"),            # the merchant's ATA is missing
                await h.create("5", "USDC", memo="ORD-TX-3"),  # it exists by now
                await h.create("7.5", "PYUSD")]             # Token-2022
    payers = [await funded_payer(h, [(mint, TOKEN_PROGRAM_ID),
                                     (token22, TOKEN_2022_PROGRAM_ID)]) for _ in payments]
    urls = [p["payment_request"]["transaction_request_url"] for p in payments]
    port = https_api[0].port
    for p, url in zip(payments, urls, strict=True):
        assert url == f"solana:https://127.0.0.1:{port}/pay/{p['id']}/transaction-request"

    result = await node(tmp_path, https_api[1], h.sim, [
        {"url": url, "secret": list(bytes(k))} for url, k in zip(urls, payers, strict=True)])

    assert result["ok"] is True
    for payment, payer, paid in zip(payments, payers, result["paid"], strict=True):
        account = str(payer.pubkey())
        # The customer pays the fee and is the only signer, in both clients.
        assert paid["kitFeePayer"] == paid["legacyFeePayer"] == account
        assert paid["kitSigners"] == paid["legacySigners"] == [account]
        row = await h.wait_for(payment["id"], "confirmed")
        assert row["amount_received"] == int(payment["amount_due"])
        assert row["payer"] == account
        [transfer] = await h.transfers(payment["id"])
        assert transfer["tx_id"] == paid["signature"]
        assert transfer["sender"] == account
        assert transfer["matched_by"] == "transaction_request"
    programs = [paid["programs"] for paid in result["paid"]]
    budget, memo = "ComputeBudget111111111111111111111111111111", \
        "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
    ata, system = str(ASSOCIATED_TOKEN_PROGRAM_ID), "11111111111111111111111111111111"
    token, token2022 = str(TOKEN_PROGRAM_ID), str(TOKEN_2022_PROGRAM_ID)
    assert programs == [[budget, budget, memo, system],
                        [budget, budget, ata, token],
                        [budget, budget, memo, token],
                        [budget, budget, ata, token2022]]
    assert (await h.wallet.client.get_account_info(merchant_ata)).value is not None
