"""`paywatch demo`: the whole system on one machine with nothing configured.

Embedded PostgreSQL, simnet, the daemon (API, jobs, watcher), a demo store with a key and a
local webhook receiver that verifies signatures; then an order and a payment made through the
HTTP API, paid from a simnet wallet, and the timeline printed as it happens; then what to try
next, the dashboard's address and the key that signs in to it among them. With --once it exits
0 as soon as the payment's webhook has arrived (non-zero if that takes over a minute).

The demo keeps its data to itself: a fresh embedded PostgreSQL in a temporary directory under
the data dir, removed when the demo exits (--once, Ctrl-C or SIGTERM). Its store, key and
webhook endpoint (a receiver that lives only as long as the demo) therefore never reach the
database `paywatch run` uses, where deliveries to the vanished receiver would be retried for
days, and every demo run starts from the same empty state."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair

from paywatch.core.apikeys import DEFAULT_SCOPES
from paywatch.core.settings import Settings
from paywatch.core.webhooks import SIGNATURE_HEADER, WebhookVerificationError, verify_signature
from paywatch.daemon import run_daemon
from paywatch.database import open_database
from paywatch.services.keys import create_key
from paywatch.services.stores import create_store
from simnet.server import SimnetServer
from simnet.wallet import Wallet

TIMEOUT_S = 60.0
LIVE_PAY_DELAY_S = 20.0  # time to open the checkout page before the demo wallet pays


@dataclass(frozen=True)
class DemoOptions:
    once: bool = False
    api_port: int = 8080       # the next free port when taken
    rpc_port: int | None = None  # None: simnet's usual 8899 when free, else any free port
    ws_port: int | None = None   # None: 8900 when free, else any free port


def run_demo(base: Settings, options: DemoOptions) -> int:
    """The demo on its own throwaway data, deleted however the demo ends."""
    base.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="demo-", dir=base.data_dir,
                                     ignore_cleanup_errors=True) as own:
        settings = base.model_copy(update={"data_dir": Path(own), "database_url": None})
        try:
            return asyncio.run(demo(settings, options))
        except KeyboardInterrupt:  # before the demo's own signal handlers were in place
            return 0


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free port")


@dataclass
class Receiver:
    """The merchant's side: verifies each webhook's signature and notes when it arrived."""

    secret: str = ""
    arrived: list[tuple[float, str, bool]] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_signature(body, request.headers.get(SIGNATURE_HEADER, ""), self.secret)
            ok = True
        except WebhookVerificationError:
            ok = False
        self.arrived.append((time.monotonic(), json.loads(body)["type"], ok))
        self.event.set()
        return web.Response(status=200 if ok else 400)

    def verified_by(self) -> float:
        """When the later of the two webhooks the demo waits for arrived verified (the
        receiver's clock, not when the timeline noticed)."""
        return max(at for at, kind, ok in self.arrived
                   if ok and kind in ("payment.confirmed", "order.paid"))


class Timeline:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def say(self, what: str) -> None:
        print(f"  +{time.monotonic() - self.t0:6.2f} s  {what}", flush=True)


async def demo(base: Settings, options: DemoOptions) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    rpc_port = free_port(8899) if options.rpc_port is None else options.rpc_port
    ws_port = free_port(8900) if options.ws_port is None else options.ws_port
    async with SimnetServer(rpc_port=rpc_port, ws_port=ws_port, slot_ms=200) as sim:
        settings = base.model_copy(update={
            "api_port": free_port(options.api_port), "solana_rpc_urls": [sim.rpc_url],
            "solana_ws_urls": [sim.ws_url], "webhook_allow_private": True,
            "solana_watch": True})
        api = f"http://127.0.0.1:{settings.api_port}"
        daemon = asyncio.create_task(run_daemon(settings, stop=stop))
        try:
            await _wait_ready(api, daemon)
            code = await _story(settings, sim, api, options.once, stop)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await daemon
    return code


async def _wait_ready(api: str, daemon: asyncio.Task[None]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if daemon.done():
                daemon.result()
                raise RuntimeError("the daemon stopped")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{api}/readyz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError("the daemon did not become ready")


async def _setup(settings: Settings, wallet: Wallet) -> tuple[str, str]:
    """A demo store receiving SOL at a fresh wallet, and a new key for it (in the demo's own,
    empty database)."""
    merchant = Keypair().pubkey()
    await wallet.airdrop(merchant, 10**9)
    async with open_database(settings) as db, db.pool.acquire() as conn:
        store = await create_store(conn, "demo", "Demo Shop", str(merchant), [], "demo")
        key, _row = await create_key(conn, store["id"], "demo", list(DEFAULT_SCOPES), "demo")
    return key, str(merchant)


async def _story(settings: Settings, sim: SimnetServer, api: str, once: bool,
                 stop: asyncio.Event) -> int:
    async with AsyncClient(sim.rpc_url, commitment=Confirmed) as client, \
            aiohttp.ClientSession() as http:
        wallet = Wallet(Keypair(), client)
        await wallet.airdrop(wallet.pubkey, 100 * 10**9)
        key, _merchant = await _setup(settings, wallet)
        receiver, hook_url, runner = await _start_receiver()
        auth = {"Authorization": f"Bearer {key}"}
        try:
            endpoint = await _post(http, f"{api}/v1/webhook_endpoints", auth,
                                   {"url": hook_url, "event_types": ["payment.confirmed",
                                                                      "order.paid"]})
            receiver.secret = endpoint["secret"]
            timeline = Timeline()
            print("\npaywatch demo: one payment, start to finish\n", flush=True)
            order = await _post(http, f"{api}/v1/orders", auth, {
                "customer": {"email": "ada@example.com", "name": "Ada"}, "currency": "USD",
                "items": [{"sku": "MUG-1", "name": "Mug", "quantity": 2,
                           "unit_price": "12.50"}]})
            timeline.say(f"order {order['number']} created: {order['total']} USD")
            payment = await _post(http, f"{api}/v1/payments", auth,
                                  {"order_id": order["id"], "asset": "SOL",
                                   "label": "Demo Shop", "memo": order["number"]})
            created = time.monotonic()
            timeline.say(f"payment created: {payment['amount_due_display']} SOL at "
                         f"{payment['quote']['price']} USD/SOL "
                         f"({payment['quote']['cfv']['reason']})")
            timeline.say(f"checkout page: {checkout_url(api, payment)}")
            signature = await wallet.pay(payment["payment_request"]["url"])
            timeline.say(f"paid from a simnet wallet: {signature[:16]}...")
            ok = await _follow(http, api, auth, payment, order, receiver, timeline)
            if ok:
                print(f"\n  payment created -> both webhooks verified: "
                      f"{receiver.verified_by() - created:.2f} s", flush=True)
        finally:
            await runner.cleanup()
        if not ok:
            print("paywatch demo: the webhook did not arrive within a minute", flush=True)
            return 1
        _print_next(api, key, sim, payment)
        if not once:
            await _live_checkout(http, api, auth, wallet, stop)
            await stop.wait()
        return 0


def checkout_url(api: str, payment: dict[str, Any]) -> str:
    return f"{api}/pay/{payment['id']}"


def dashboard_url(api: str) -> str:
    """The merchant dashboard; the demo store's key signs in to it (its scopes: read and act
    on payments, orders and webhooks, as the API allows that key)."""
    return f"{api}/dashboard"


async def _live_checkout(http: aiohttp.ClientSession, api: str, auth: dict[str, str],
                         wallet: Wallet, stop: asyncio.Event) -> None:
    """A second payment for a person to watch: its checkout page, paid a little later."""
    payment = await _post(http, f"{api}/v1/payments", auth,
                          {"amount": "9.99", "currency": "USD", "asset": "SOL",
                           "label": "Demo Shop", "message": "Demo order"})
    print(f"Watch a payment live: open {checkout_url(api, payment)}\n"
          f"  the simnet wallet pays it in {LIVE_PAY_DELAY_S:.0f} s; the page turns to "
          f"confirmed by itself.", flush=True)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LIVE_PAY_DELAY_S):  # not wait_for: see db/listen.py
            await stop.wait()
    if stop.is_set():
        return
    await wallet.pay(payment["payment_request"]["url"])
    print(f"  paid {payment['amount_due_display']} SOL from the simnet wallet.", flush=True)


async def _follow(http: aiohttp.ClientSession, api: str, auth: dict[str, str],
                  payment: dict[str, Any], order: dict[str, Any], receiver: Receiver,
                  timeline: Timeline) -> bool:
    """Print each step once as it happens; True once both webhooks arrived verified."""
    seen: set[str] = set()
    hooks_shown = 0
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        now = await _get(http, f"{api}/v1/payments/{payment['id']}", auth)
        if now["status"] != "pending" and now["status"] not in seen:
            seen.add(now["status"])
            timeline.say(f"payment {now['status']}"
                         + (f" ({now['exception']})" if now["exception"] else ""))
        if "order paid" not in seen and (await _get(
                http, f"{api}/v1/orders/{order['id']}", auth))["status"] == "paid":
            seen.add("order paid")
            timeline.say(f"order {order['number']} paid")
        for _at, kind, ok in receiver.arrived[hooks_shown:]:
            hooks_shown += 1
            timeline.say(f"webhook {kind} delivered, signature "
                         f"{'verified' if ok else 'REFUSED'}")
        verified = [kind for _at, kind, ok in receiver.arrived if ok]
        if {"confirmed", "order paid"} <= seen and {"payment.confirmed", "order.paid"} <= set(
                verified):
            return True
        await asyncio.sleep(0.1)
    return False


async def _start_receiver() -> tuple[Receiver, str, web.AppRunner]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/webhooks", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port(0)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return receiver, f"http://127.0.0.1:{port}/webhooks", runner


async def _post(http: aiohttp.ClientSession, url: str, auth: dict[str, str],
                body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(url, json=body, headers=auth) as resp:
        answer = await resp.json()
        if resp.status >= 300:
            raise RuntimeError(f"{url}: {resp.status} {answer}")
        return answer


async def _get(http: aiohttp.ClientSession, url: str, auth: dict[str, str]) -> dict[str, Any]:
    async with http.get(url, headers=auth) as resp:
        return await resp.json()


def _program() -> str:
    """How the person ran paywatch (`.venv/bin/paywatch` when not on PATH), to print commands
    they can paste."""
    invoked = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "paywatch" else "paywatch"
    return shlex.quote(invoked)


def _print_next(api: str, key: str, sim: SimnetServer, payment: dict[str, Any]) -> None:
    print(f"""
Try next (paywatch keeps running until Ctrl-C, then deletes the demo's data):
  API key (demo store):  {key}
  dashboard:             {dashboard_url(api)}
                         sign in: paste the API key above on its sign-in page
  API docs:              {api}/docs
  metrics:               {api}/metrics
  this payment:          curl -s {api}/v1/payments/{payment['id']} -H "Authorization: Bearer {key}"
  its checkout page:     {checkout_url(api, payment)}
  another payment:       curl -s {api}/v1/payments -H "Authorization: Bearer {key}" \\
                           -H "Content-Type: application/json" \\
                           -d '{{"amount": "9.99", "currency": "USD", "asset": "SOL"}}'
  pay it:                {_program()} simnet pay "<payment_request.url>" --rpc-url {sim.rpc_url}
                         (or open {api}/pay/<id> and watch it while you pay)
""", flush=True)
