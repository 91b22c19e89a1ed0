"""Record /docs's examples: run the real app in-process on a fresh database, make one real
request per documented operation, and write what was sent and answered to
api/docs/examples.json (tests/test_docs_examples.py validates every one against the document
and runs this script again to prove it still works). Run after changing an API route:

    .venv/bin/python scripts/record_examples.py                  # embedded PostgreSQL
    .venv/bin/python scripts/record_examples.py --database-url postgresql://.../fresh_db

With --database-url the database must be fresh (migrated or empty): the recorder creates its
own store. Ids and times stay as recorded; API keys and webhook secrets become placeholders.

Money is paid without a chain: an unmatched transfer is recorded the way a watcher records
one and assigned to the payment through the API, which settles it by the normal rules. A
local simnet answers the Transaction Request (it needs a recent blockhash)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer
from solders.keypair import Keypair

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.app import build_app  # noqa: E402
from api.openapi import Operation, operation_id  # noqa: E402
from db.embedded import EmbeddedPostgres  # noqa: E402
from db.migrator import Migrator  # noqa: E402
from db.pool import connect, create_pool  # noqa: E402
from paywatch.chains import build_chains  # noqa: E402
from paywatch.core.settings import Settings  # noqa: E402
from paywatch.services import transfers  # noqa: E402
from paywatch.services.keys import create_key  # noqa: E402
from simnet.server import SimnetServer  # noqa: E402

OUT = ROOT / "api" / "docs" / "examples.json"
PUBLIC_URL = "https://pay.example.com"
# Fixed keys, so the addresses in the examples do not change from one recording to the next.
RECIPIENT = str(Keypair.from_seed(bytes([1] * 32)).pubkey())
CUSTOMER = str(Keypair.from_seed(bytes([2] * 32)).pubkey())
OWN_WALLET = str(Keypair.from_seed(bytes([3] * 32)).pubkey())
TEXT_LIMIT = 1200   # non-JSON answers (SVG, HTML, CSV, metrics) are shown this far
_SECRETS = [(re.compile(r"pw_live_[A-Za-z0-9_\-]+"), "pw_live_..."),
            (re.compile(r"whsec_[A-Za-z0-9_\-]+"), "whsec_...")]


def scrub(text: str) -> str:
    for pattern, placeholder in _SECRETS:
        text = pattern.sub(placeholder, text)
    return text


class Recorder:
    """Calls the app and keeps one example per operation (the first call of each)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.operations: dict[str, dict[str, Any]] = {}
        self.key = ""   # the store's key; the operator's for /v1/stores
        self.store_id = ""

    async def peek_post(self, url: str, body: Any) -> Any:
        """A create the examples do not keep (each operation's example is its first call)."""
        resp = await self.client.post(url, json=body,
                                      headers={"Authorization": f"Bearer {self.key}"})
        assert resp.status == 201, await resp.text()
        return await resp.json()

    async def peek(self, url: str) -> Any:
        """A read the examples do not keep (finding an id the next call needs)."""
        resp = await self.client.get(url, headers={"Authorization": f"Bearer {self.key}"})
        return await resp.json()

    async def call(self, method: str, template: str, url: str, *, status: int,
                   body: Any = None, key: str | None = None) -> Any:
        """One request; fails loudly unless the answer has the expected status."""
        headers = {"Idempotency-Key": f"example-{len(self.operations) + 1}"} \
            if method == "POST" and url.startswith("/v1/") else {}
        auth = url.startswith("/v1/")
        sent = {**headers, "Authorization": f"Bearer {key or self.key}"} if auth else headers
        resp = await self.client.request(method, url, headers=sent, json=body)
        text = await resp.text()
        if resp.status != status:
            raise SystemExit(f"{method} {url}: expected {status}, got {resp.status}: {text}")
        kind = resp.content_type
        op = operation_id(Operation(method, template, "", None))
        example: dict[str, Any] = {"method": method, "path": template, "url": url,
                                   "auth": auth, "headers": headers, "body": body,
                                   "status": resp.status, "content_type": kind}
        if kind == "application/json":
            example["response"] = json.loads(scrub(text))
        elif text:
            example["response_text"] = scrub(_cut(text))
        self.operations.setdefault(op, example)
        return json.loads(text) if kind == "application/json" else text


def _cut(text: str) -> str:
    if len(text) <= TEXT_LIMIT:
        return text
    return text[:TEXT_LIMIT] + f"\n... ({len(text) - TEXT_LIMIT} more characters)"


# ----- the scenario: a store's day, one step per area ----------------------------------------

async def stores(rec: Recorder, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        operator, _row = await create_key(conn, None, "operator", ["admin"], "recorder")
    store = await rec.call("POST", "/v1/stores", "/v1/stores", status=201, key=operator, body={
        "slug": "acme-coffee", "name": "Acme Coffee", "solana_recipient": RECIPIENT,
        "default_currency": "USD"})
    await rec.call("GET", "/v1/stores", "/v1/stores", status=200, key=operator)
    await rec.call("GET", "/v1/stores/{ref}", "/v1/stores/acme-coffee", status=200,
                   key=operator)
    await rec.call("POST", "/v1/stores/{ref}", "/v1/stores/acme-coffee", status=200,
                   key=operator, body={"underpaid_tolerance_percent": "0.5",
                                       "payment_lifetime_seconds": 900})
    rec.store_id = store["id"]
    async with pool.acquire() as conn:
        scopes = ["payments:read", "payments:write", "orders:read", "orders:write",
                  "webhooks:read", "webhooks:write"]
        rec.key, _row = await create_key(conn, store["id"], "shop backend", scopes, "recorder")
    await rec.call("GET", "/v1/me", "/v1/me", status=200)
    await rec.call("GET", "/v1/quotes", "/v1/quotes?asset=SOL&amount=25.00&currency=USD",
                   status=200)


ORDER = {"customer": {"email": "ada@example.com", "name": "Ada Lovelace"}, "currency": "USD",
         "items": [{"sku": "BEANS-1KG", "name": "House blend, 1 kg", "quantity": 2,
                    "unit_price": "12.50"}],
         "shipping": "4.00", "metadata": {"cart": "c_1042"}}


async def orders_and_payments(rec: Recorder) -> tuple[dict[str, Any], dict[str, Any]]:
    order = await rec.call("POST", "/v1/orders", "/v1/orders", status=201, body=ORDER)
    await rec.call("GET", "/v1/orders", "/v1/orders?limit=2", status=200)
    await rec.call("GET", "/v1/orders/{ref}", f"/v1/orders/{order['number']}", status=200)
    await rec.call("GET", "/v1/customers/{email}/orders", "/v1/customers/ada@example.com/orders",
                   status=200)
    payment = await rec.call("POST", "/v1/payments", "/v1/payments", status=201, body={
        "order_id": order["id"], "asset": "SOL", "redirect_url": "https://shop.example.com/done"})
    await rec.call("GET", "/v1/payments", "/v1/payments?status=pending&limit=2", status=200)
    await rec.call("GET", "/v1/payments/{id}", f"/v1/payments/{payment['id']}", status=200)
    await rec.call("GET", "/v1/payments/{id}/qr.svg", f"/v1/payments/{payment['id']}/qr.svg",
                   status=200)
    return order, payment


async def checkout(rec: Recorder, payment_id: str) -> None:
    """The customer's side, while the payment is open."""
    page = f"/pay/{payment_id}"
    await rec.call("GET", "/pay/{id}", page, status=200)
    await rec.call("GET", "/pay/{id}/qr.svg", f"{page}/qr.svg", status=200)
    tx = "/pay/{id}/transaction-request"
    await rec.call("GET", tx + "/qr.svg", f"{page}/transaction-request/qr.svg", status=200)
    await rec.call("OPTIONS", tx, f"{page}/transaction-request", status=204)
    await rec.call("GET", tx, f"{page}/transaction-request", status=200)
    await rec.call("POST", tx, f"{page}/transaction-request", status=200,
                   body={"account": CUSTOMER})


async def inbox(rec: Recorder, pool: asyncpg.Pool, payment: dict[str, Any]) -> None:
    """Two transfers no payment claimed: one pays the payment by hand, one is dismissed."""
    await _unmatched(rec, pool, int(payment["amount_due"]), "1")
    await _unmatched(rec, pool, 5_000_000, "2")
    listed = await rec.peek("/v1/transfers/unmatched")
    pay, other = (next(t["id"] for t in listed["data"] if t["amount"] == str(amount))
                  for amount in (payment["amount_due"], 5_000_000))
    await rec.call("GET", "/v1/transfers/unmatched", "/v1/transfers/unmatched", status=200)
    await rec.call("GET", "/v1/transfers/{id}", f"/v1/transfers/{pay}", status=200)
    await rec.call("POST", "/v1/transfers/{id}/assign", f"/v1/transfers/{pay}/assign",
                   status=200, body={"payment_id": payment["id"],
                                     "note": "customer paid from an exchange, ticket 881"})
    await rec.call("POST", "/v1/transfers/{id}/dismiss", f"/v1/transfers/{other}/dismiss",
                   status=200, body={"reason": "our own top-up"})
    # The payment is final now, so its live stream sends its state once and ends.
    await rec.call("GET", "/pay/{id}/events", f"/pay/{payment['id']}/events", status=200)


async def _unmatched(rec: Recorder, pool: asyncpg.Pool, amount: int, tag: str) -> None:
    """Recorded as the Solana watcher records money that names no payment of ours."""
    async with pool.acquire() as conn, conn.transaction():
        await transfers.record(conn, {
            "chain": "solana", "tx_id": (tag * 88)[:88], "index": 0, "store_id": rec.store_id,
            "asset": "SOL", "mint": None, "sender": CUSTOMER, "recipient": RECIPIENT,
            "amount": amount, "slot": 1000, "status": "finalized",
            "unmatched_reason": "no reference of ours"})


async def payments_by_hand(rec: Recorder) -> None:
    """A payment cancelled, and one settled by hand."""
    body = {"amount": "9.00", "currency": "USD", "asset": "SOL", "label": "Gift card"}
    doomed = await rec.peek_post("/v1/payments", body)
    await rec.call("POST", "/v1/payments/{id}/cancel", f"/v1/payments/{doomed['id']}/cancel",
                   status=200, body={"reason": "customer chose card"})
    settled = await rec.peek_post("/v1/payments", body)
    await rec.call("POST", "/v1/payments/{id}/settle", f"/v1/payments/{settled['id']}/settle",
                   status=200, body={"reason": "paid in cash at the counter"})


async def refunds(rec: Recorder, payment: dict[str, Any]) -> None:
    refund = await rec.call("POST", "/v1/payments/{id}/refunds",
                            f"/v1/payments/{payment['id']}/refunds", status=201,
                            body={"fiat_amount": "12.50", "destination": CUSTOMER,
                                  "reason": "one bag arrived torn"})
    await rec.call("GET", "/v1/refunds", f"/v1/refunds?payment_id={payment['id']}", status=200)
    await rec.call("GET", "/v1/refunds/{id}", f"/v1/refunds/{refund['id']}", status=200)
    await rec.call("GET", "/v1/refunds/{id}/qr.svg", f"/v1/refunds/{refund['id']}/qr.svg",
                   status=200)
    await rec.call("POST", "/v1/refunds/{id}/cancel", f"/v1/refunds/{refund['id']}/cancel",
                   status=200, body={"reason": "sent a replacement instead"})


async def order_changes(rec: Recorder, paid: dict[str, Any]) -> None:
    await rec.call("POST", "/v1/orders/{ref}/fulfillment",
                   f"/v1/orders/{paid['number']}/fulfillment", status=200,
                   body={"status": "shipped", "carrier": "DHL", "tracking_number": "JD0142"})
    other = await rec.peek_post("/v1/orders", {**ORDER, "metadata": {"cart": "c_1043"}})
    await rec.call("POST", "/v1/orders/{ref}/cancel", f"/v1/orders/{other['number']}/cancel",
                   status=200, body={"reason": "customer asked to cancel"})


async def webhooks(rec: Recorder) -> None:
    endpoint = await rec.call("POST", "/v1/webhook_endpoints", "/v1/webhook_endpoints",
                              status=201, body={
                                  "url": "https://shop.example.com/paywatch/webhooks",
                                  "event_types": ["payment.confirmed", "order.paid"],
                                  "description": "fulfilment"})
    await rec.call("GET", "/v1/webhook_endpoints", "/v1/webhook_endpoints", status=200)
    events = await rec.call("GET", "/v1/events", "/v1/events?type=order.paid", status=200)
    event_id = events["data"][0]["id"]
    await rec.call("GET", "/v1/events/{id}", f"/v1/events/{event_id}", status=200)
    await rec.call("POST", "/v1/events/{id}/redeliver", f"/v1/events/{event_id}/redeliver",
                   status=200)
    await rec.call("DELETE", "/v1/webhook_endpoints/{id}",
                   f"/v1/webhook_endpoints/{endpoint['id']}", status=204)


async def reports(rec: Recorder, now: datetime) -> None:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    period = f"from={_z(day)}&to={_z(day + timedelta(days=1))}"
    await rec.call("GET", "/v1/analytics/summary", f"/v1/analytics/summary?{period}",
                   status=200)
    await rec.call("GET", "/v1/exports/{kind}", f"/v1/exports/payments?{period}", status=200)
    for path in ("/healthz", "/readyz", "/metrics"):
        await rec.call("GET", path, path, status=200)


def _z(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


async def webhook_bodies(rec: Recorder) -> dict[str, Any]:
    """The first event of each type the scenario caused, as its delivery's body."""
    found: dict[str, Any] = {}
    page = await rec.peek("/v1/events?limit=100")
    for event in reversed(page["data"]):   # oldest first: the first of each type
        found.setdefault(event["type"], {"id": event["id"], "type": event["type"],
                                         "created_at": event["created_at"],
                                         "data": event["data"]})
    return json.loads(scrub(json.dumps(found)))


async def scenario(rec: Recorder, pool: asyncpg.Pool) -> dict[str, Any]:
    await stores(rec, pool)
    order, payment = await orders_and_payments(rec)
    await checkout(rec, payment["id"])
    await inbox(rec, pool, payment)
    await payments_by_hand(rec)
    await refunds(rec, payment)
    await order_changes(rec, order)
    await webhooks(rec)
    await reports(rec, datetime.now(UTC))
    return {"recorded_at": _z(datetime.now(UTC).replace(microsecond=0)),
            "operations": dict(sorted(rec.operations.items())),
            "webhooks": await webhook_bodies(rec)}


# ----- running it: a fresh database, a local chain, the app ----------------------------------

@asynccontextmanager
async def database(url: str | None) -> AsyncIterator[str]:
    """The given database, or an embedded PostgreSQL in a temporary directory, migrated."""
    home = None if url else Path(tempfile.mkdtemp(prefix="pw-examples-"))
    embedded = None if home is None else EmbeddedPostgres(home)
    try:
        dsn = url if embedded is None else await embedded.start()
        conn = await connect(dsn)
        try:
            await Migrator(conn, progress=lambda _line: None).up()
        finally:
            await conn.close()
        yield dsn
    finally:
        if embedded is not None:
            await embedded.stop()
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)


async def record(url: str | None) -> dict[str, Any]:
    async with database(url) as dsn, SimnetServer(rpc_port=0, ws_port=0, slot_ms=50) as sim:
        pool = await create_pool(dsn, min_size=1, max_size=4)
        settings = Settings(
            database_url=dsn, _env_file=None, public_url=PUBLIC_URL,
            solana_rpc_urls=[sim.rpc_url], solana_ws_urls=[sim.ws_url], solana_watch=False,
            # The example endpoint's host need not resolve here: skip the DNS check only.
            webhook_allow_private=True, api_rate_limit_per_minute=100_000)
        client = TestClient(TestServer(build_app(settings, pool,
                                                 chains=build_chains(settings))))
        await client.start_server()
        try:
            return await scenario(Recorder(client), pool)
        finally:
            await client.close()
            await pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a fresh database (default: embedded)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    recorded = asyncio.run(record(args.database_url))
    args.out.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    print(f"{len(recorded['operations'])} operations, {len(recorded['webhooks'])} event types "
          f"-> {args.out}")


if __name__ == "__main__":
    main()
