"""Processes for the fault suite: `paywatch run` with its logs in a file (a pipe nobody reads
would fill and stall it), a webhook receiver that records every event id it is sent, and bounded
waits that fail with what they were waiting for."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.conftest import PAYWATCH, free_port


def start_daemon(env: dict[str, str], cwd: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**env, "PAYWATCH_API_PORT": str(port), "PAYWATCH_LOG_FORMAT": "json"}
    with log.open("ab") as out:
        proc = subprocess.Popen([PAYWATCH, "run"], env=env, cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def wait_until(check: Callable[[], bool], what: str, seconds: float,
               detail: Callable[[], str] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}"
                                 + (f" ({detail()})" if detail else ""))
        time.sleep(0.1)


class Receiver:
    """A merchant's webhook endpoint on loopback: answers 200 and records each event id."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.deliveries = 0
        self.lock = threading.Lock()

    def record(self, event_id: str) -> None:
        with self.lock:
            self.seen.add(event_id)
            self.deliveries += 1


@contextmanager
def webhook_receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.record(json.loads(body)["id"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


def event_ids(dsn: str) -> list[object]:
    import asyncio

    import asyncpg

    async def go() -> list[object]:
        conn = await asyncpg.connect(dsn)
        try:
            return [r["id"] for r in await conn.fetch("SELECT id FROM events")]
        finally:
            await conn.close()

    return asyncio.run(go())


class Payer(threading.Thread):
    """Pays Solana Pay URLs on simnet in batches, as a steady stream, in a thread of its own.
    A payment whose send fails (the chain is a process under the same load) is recorded in
    `errors`, not retried: paying twice would be a different test. `paid` holds the URLs whose
    transaction was accepted; the tests hold every one of those to account."""

    def __init__(self, rpc_url: str, urls: list[str], batch: int, pause_s: float) -> None:
        super().__init__(daemon=True)
        self.rpc_url, self.urls, self.batch, self.pause_s = rpc_url, urls, batch, pause_s
        self.paid: set[str] = set()
        self.errors: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        try:
            asyncio.run(self._go())
        except Exception as exc:
            self.errors.append(f"payer stopped: {type(exc).__name__}: {exc}")
        finally:
            self.done.set()

    async def _go(self) -> None:
        from solana.rpc.async_api import AsyncClient
        from solders.keypair import Keypair

        from simnet.wallet import Wallet

        async with AsyncClient(self.rpc_url, commitment="confirmed") as client:
            wallet = Wallet(Keypair(), client)
            await wallet.airdrop(wallet.pubkey, 1000 * 10**9)
            for start in range(0, len(self.urls), self.batch):
                chunk = self.urls[start:start + self.batch]
                results = await asyncio.gather(*(wallet.pay(u) for u in chunk),
                                               return_exceptions=True)
                for url, result in zip(chunk, results, strict=True):
                    if isinstance(result, BaseException):
                        self.errors.append(f"{type(result).__name__}: {result}")
                    else:
                        self.paid.add(url)
                await asyncio.sleep(self.pause_s)


def unconfirmed(dsn: str, paid_urls: set[str]) -> int:
    """Paid payments (by their Solana Pay URL) not yet confirmed."""
    from tests.test_many_processes import fetchval

    return int(fetchval(dsn, "SELECT count(*) FROM payments WHERE payment_url = ANY($1::text[]) "
                             "AND status <> 'confirmed'", list(paid_urls)))


def assert_paid_once(dsn: str, paid: int) -> None:
    """Every confirmed payment was confirmed exactly once, by one transfer of exactly what it
    asked; at least the `paid` payments are confirmed (a send that failed on our side may still
    have landed, and then it counts too)."""
    from tests.test_many_processes import fetchval

    confirmed = int(fetchval(dsn, "SELECT count(*) FROM payments WHERE status = 'confirmed'"))
    assert confirmed >= paid
    events = fetchval(dsn, "SELECT count(*) FROM events WHERE type = 'payment.confirmed'")
    distinct = fetchval(dsn, "SELECT count(DISTINCT payment_id) FROM events "
                             "WHERE type = 'payment.confirmed'")
    assert (events, distinct) == (confirmed, confirmed)  # each confirmed exactly once
    assert fetchval(dsn, "SELECT count(*) FROM payments WHERE status = 'confirmed' AND "
                         "(amount_received <> amount_due OR exception IS NOT NULL)") == 0
    assert fetchval(dsn, "SELECT count(*) FROM transfers WHERE status <> 'rejected'") \
        == confirmed  # one transfer per payment: nothing recorded twice
    assert fetchval(dsn, "SELECT sum(amount) FROM transfers WHERE status <> 'rejected'") == \
        fetchval(dsn, "SELECT coalesce(sum(amount_due), 0) FROM payments "
                      "WHERE status = 'confirmed'")
