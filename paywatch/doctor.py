"""`paywatch doctor`: what is wrong with this deployment, one check a line, each failure with
what to do. Every network check is bounded (CHECK_TIMEOUT_S) and they run concurrently; what a
line shows is masked like `config show` (no key in a URL, no password)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import aiohttp
import asyncpg

from db import monitoring
from db import stores as db_stores
from db.migrator import Migrator
from db.pool import create_pool
from paywatch.core.evm import EvmChain
from paywatch.core.pricing import NotPriced, PriceUnavailable, build_quote_service
from paywatch.core.redact import mask_url, redact_text
from paywatch.core.settings import Settings
from paywatch.core.solanapay import CLUSTERS, SolanaChain
from paywatch.core.ssrf import UnsafeUrl, check_url
from paywatch.database import resolve_dsn

CHECK_TIMEOUT_S = 5.0
Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None


def ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, "fail", detail, fix)


async def diagnose(settings: Settings) -> list[Check]:
    """Every check, in a stable order: database first (the rest reads stores from it)."""
    checks: list[Check] = []
    dsn, embedded = await resolve_dsn(settings)
    try:
        pool = await _pool(dsn)
        checks += await _database(pool, dsn, embedded is not None)
        # The stores' pairs and endpoints are read only from a database that is current.
        stores = pool if all(c.status == "ok" for c in checks) else None
        async with aiohttp.ClientSession() as session:
            tasks: list[Awaitable[list[Check]]] = [
                *(_chain(session, chain) for chain in settings.all_chains()),
                _prices(settings, session, stores), _webhooks(settings, stores),
                _public_url(settings, session)]
            for found in await asyncio.gather(*tasks):
                checks += found
        if pool is not None:
            await pool.close()
    finally:
        if embedded is not None:
            await embedded.stop()
    return checks


async def _pool(dsn: str) -> asyncpg.Pool | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await create_pool(dsn, min_size=1, max_size=4)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return None


async def _database(pool: asyncpg.Pool | None, dsn: str, embedded: bool) -> list[Check]:
    where = "embedded PostgreSQL" if embedded else mask_url(dsn)
    if pool is None:
        return [fail("database", f"cannot connect to {where}",
                     "check PAYWATCH_DATABASE_URL (host, port, credentials) and that "
                     "PostgreSQL runs and accepts connections from here")]
    async with pool.acquire() as conn:
        version = await conn.fetchval("SHOW server_version")
        rows = await Migrator(conn).status()
    checks = [ok("database", f"PostgreSQL {version} at {where}")]
    pending = [r for r in rows if r.state == "pending"]
    broken = [r for r in rows if r.state not in ("applied", "pending")]
    if broken:
        checks.append(fail("migrations", ", ".join(f"{r.version:04d} {r.state}" for r in broken),
                           "an applied migration file was edited or removed: restore it from "
                           "this release; `paywatch migrate validate` says more"))
    elif pending:
        checks.append(fail("migrations", f"{len(pending)} pending (newest "
                           f"{pending[-1].version:04d})", "run `paywatch migrate up` "
                           "(`paywatch run` applies them at start unless --no-migrate)"))
    else:
        checks.append(ok("migrations", f"all {len(rows)} applied"))
    return checks


async def _bounded(name: str, where: str, fix: str,
                   probe: Callable[[], Awaitable[Check]]) -> Check:
    """`probe()` within the time limit; a failure names `where` (masked) and its kind."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await probe()
    except TimeoutError:
        return fail(name, f"{where}: no answer within {CHECK_TIMEOUT_S:.0f} s", fix)
    except (aiohttp.ClientError, OSError, ValueError, KeyError, TypeError) as exc:
        return fail(name, f"{where}: {type(exc).__name__}: {_short(exc)}", fix)


def _short(exc: BaseException) -> str:
    """The kind of failure, never its URL: aiohttp's messages may hold the whole URL, key and
    all (and `redact_text` masks what looks like a URL or key in what is left)."""
    text = redact_text(str(exc).split(" [")[0])
    return "no details" if not text or "://" in text else text[:120]


async def _rpc(session: aiohttp.ClientSession, url: str, method: str) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": []}
    async with session.post(url, json=body) as resp:
        if resp.status != 200:
            raise ValueError(f"HTTP {resp.status}")
        answer = await resp.json(content_type=None)
    if "result" not in answer:
        raise ValueError(f"JSON-RPC error {answer.get('error')}")
    return answer["result"]


async def _ws(session: aiohttp.ClientSession, url: str, method: str) -> Any:
    async with session.ws_connect(url, heartbeat=None) as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": method, "params": []})
        answer = await ws.receive_json()
    if "result" not in answer:
        raise ValueError(f"JSON-RPC error {answer.get('error')}")
    return answer["result"]


async def _chain(session: aiohttp.ClientSession, chain: SolanaChain | EvmChain) -> list[Check]:
    if isinstance(chain, SolanaChain):
        checks = [_solana_rpc(session, chain, url) for url in chain.rpc_urls]
        checks += [_ws_check(session, chain.name, url, "slotSubscribe", "PAYWATCH_SOLANA_WS_URLS")
                   for url in chain.ws_urls]
    else:
        checks = [_evm_rpc(session, chain, url) for url in chain.rpc_urls]
        checks += [_ws_check(session, chain.name, url, "eth_chainId", "PAYWATCH_EVM_CHAINS")
                   for url in chain.ws_urls]
    return list(await asyncio.gather(*checks))


async def _solana_rpc(session: aiohttp.ClientSession, chain: SolanaChain, url: str) -> Check:
    name = f"{chain.name} rpc"

    async def probe() -> Check:
        genesis = str(await _rpc(session, url, "getGenesisHash"))
        network = CLUSTERS.get(genesis, f"a private cluster ({genesis})")
        if chain.genesis_hash and genesis != chain.genesis_hash:
            expected = CLUSTERS.get(chain.genesis_hash, chain.genesis_hash)
            return fail(name, f"{mask_url(url)} is on {network}, not {expected}",
                        "point PAYWATCH_SOLANA_RPC_URLS at the cluster of "
                        "PAYWATCH_SOLANA_GENESIS_HASH (or correct that setting)")
        if chain.genesis_hash is None:
            return Check(name, "warn", f"{mask_url(url)} answers, on {network}",
                         "set PAYWATCH_SOLANA_GENESIS_HASH to that hash to have it checked")
        return ok(name, f"{mask_url(url)} answers, on {network}")

    fix = ("check PAYWATCH_SOLANA_RPC_URLS: the URL, its API key, and that the node is "
           "reachable from here")
    return await _bounded(name, mask_url(url), fix, probe)


async def _evm_rpc(session: aiohttp.ClientSession, chain: EvmChain, url: str) -> Check:
    name = f"{chain.name} rpc"

    async def probe() -> Check:
        chain_id = int(str(await _rpc(session, url, "eth_chainId")), 16)
        if chain_id != chain.chain_id:
            return fail(name, f"{mask_url(url)} is chain {chain_id}, not {chain.chain_id}",
                        f"point {chain.name}'s rpc_urls in PAYWATCH_EVM_CHAINS at chain "
                        f"{chain.chain_id} (or correct its chain_id)")
        return ok(name, f"{mask_url(url)} answers, chain id {chain_id}")

    fix = (f"check {chain.name}'s rpc_urls in PAYWATCH_EVM_CHAINS: the URL, its API key, and "
           "that the node is reachable from here")
    return await _bounded(name, mask_url(url), fix, probe)


async def _ws_check(session: aiohttp.ClientSession, chain: str, url: str, method: str,
                    setting: str) -> Check:
    name = f"{chain} websocket"

    async def probe() -> Check:
        await _ws(session, url, method)
        return ok(name, f"{mask_url(url)} answers {method}")

    fix = (f"check {setting}: the WebSocket URL (ws:// or wss://), its key, and that the "
           "proxy in between passes WebSockets")
    return await _bounded(name, mask_url(url), fix, probe)


async def _prices(settings: Settings, session: aiohttp.ClientSession,
                  pool: asyncpg.Pool | None) -> list[Check]:
    pairs: list[tuple[str, str]] = [(asset, "USD") for asset in settings.static_prices]
    if pool is not None:
        async with pool.acquire() as conn:
            pairs = [(r["asset"], r["currency"].strip())
                     for r in await db_stores.priced_pairs(conn)] or pairs
    quotes = build_quote_service(settings, session)
    fix = "check PAYWATCH_PRICE_SOURCES and that each source is reachable from here"

    async def one(asset: str, currency: str) -> Check:
        name = f"price {asset}/{currency}"

        async def probe() -> Check:
            try:
                price = await quotes.prices.price(asset, currency)
            except (NotPriced, PriceUnavailable) as exc:
                return fail(name, str(exc), fix)
            return ok(name, f"{price.price.normalize():f} from {price.source}")

        return await _bounded(name, ", ".join(settings.price_sources), fix, probe)

    return list(await asyncio.gather(*(one(a, c) for a, c in dict.fromkeys(pairs))))


async def _webhooks(settings: Settings, pool: asyncpg.Pool | None) -> list[Check]:
    if pool is None:
        return []
    async with pool.acquire() as conn:
        rows = await monitoring.endpoint_urls(conn)

    async def one(row: asyncpg.Record) -> Check:
        name = f"webhook {row['store_slug']}"
        fix = ("fix or delete the endpoint (dashboard: Webhooks); a private address needs "
               "PAYWATCH_WEBHOOK_ALLOW_PRIVATE=true")

        async def probe() -> Check:
            try:
                await check_url(row["url"], settings.webhook_allow_private)
            except UnsafeUrl as exc:
                return fail(name, f"{mask_url(row['url'])}: {exc}", fix)
            return ok(name, f"{mask_url(row['url'])} resolves to an allowed address")

        return await _bounded(name, mask_url(row["url"]), fix, probe)

    return list(await asyncio.gather(*(one(r) for r in rows)))


async def _public_url(settings: Settings, session: aiohttp.ClientSession) -> list[Check]:
    name = "public url"
    if settings.public_url is None:
        return [Check(name, "warn", "not set: checkout links are paths on this server",
                      "set PAYWATCH_PUBLIC_URL to the https URL customers and wallets reach")]
    base = settings.public_url
    url = f"{base}/healthz"
    fix = ("PAYWATCH_PUBLIC_URL must reach this paywatch from outside: check DNS, TLS and "
           "the reverse proxy")

    async def probe() -> Check:
        async with session.get(url) as resp:
            if resp.status != 200:
                return fail(name, f"{mask_url(url)} answered HTTP {resp.status}", fix)
        return ok(name, f"{mask_url(base)} reaches a paywatch")

    return [await _bounded(name, mask_url(url), fix, probe)]


def as_json(checks: list[Check]) -> str:
    return json.dumps({"ok": all(c.status != "fail" for c in checks),
                       "checks": [asdict(c) for c in checks]}, indent=2)


def as_lines(checks: list[Check]) -> list[str]:
    width = max((len(c.name) for c in checks), default=10)
    lines = []
    for c in checks:
        lines.append(f"{c.status.upper():<4}  {c.name:<{width}}  {c.detail}")
        if c.fix and c.status != "ok":
            lines.append(f"{'':<4}  {'':<{width}}  -> {c.fix}")
    return lines
