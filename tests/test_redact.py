"""Secrets in URLs never leave the process: `config show`, /metrics labels, the RPC pool's and
the WebSocket streams' log lines all go through paywatch.core.redact.mask_url."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from paywatch.core.redact import mask_url, redact_text
from paywatch.logs import JsonFormatter
from tests.conftest import PAYWATCH, clean_env
from watcher.evm.heads import HeadStream
from watcher.rpc import RpcPool, RpcUnavailable
from watcher.solana.stream import LogStream

# Each secret is a distinct word so that a leak names the place it came from.
SECRETS = {
    "rpc_user": "rpcuserSECRET1", "rpc_pass": "rpcpassSECRET2", "rpc_path": "rpcpathSECRET3",
    "rpc_query": "rpcquerySECRET4", "ws_path": "wspathSECRET5", "ws_query": "wsquerySECRET6",
    "db_pass": "dbpassSECRET7", "db_ssl": "dbsslSECRET8", "cg": "coingeckoSECRET9",
    "kraken": "krakenSECRET10", "cfv": "cfvSECRET11", "evm": "evmSECRET12",
    "evm_ws": "evmwsSECRET13",
}


def assert_no_secret(text: str) -> None:
    leaked = [name for name, secret in SECRETS.items() if secret.lower() in text.lower()]
    assert not leaked, f"secrets leaked ({leaked}):\n{text}"


@pytest.mark.parametrize(("url", "masked"), [
    ("https://user:pw@rpc.example.com:8443/v2/KEY?api-key=K&x=1",
     "https://***@rpc.example.com:8443/***?api-key=***&x=***"),
    ("https://rpc.example.com/KEY", "https://rpc.example.com/***"),
    ("https://mainnet.helius-rpc.com/?api-key=K", "https://mainnet.helius-rpc.com/?api-key=***"),
    ("postgresql://pay:pw@db.internal:5432/paywatch?sslpassword=S&sslmode=verify-full",
     "postgresql://***@db.internal:5432/***?sslpassword=***&sslmode=***"),
    ("wss://KEY@node.example.com", "wss://***@node.example.com"),
    ("ws://[::1]:8900/", "ws://[::1]:8900/"),
    ("http://127.0.0.1:8899", "http://127.0.0.1:8899"),
    ("https://node.example.com/?KEY", "https://node.example.com/?***"),
    ("https://node.example.com/?a1b2c3=1", "https://node.example.com/?***=***"),
    ("https://node.example.com/#KEY", "https://node.example.com/"),
    ("not a url KEY", "***"),
    ("http://node.example.com:99999/KEY", "***"),
])
def test_mask_url_keeps_scheme_host_and_port_only(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_redact_text_masks_urls_and_keys_inside_prose() -> None:
    text = ("403, message='Invalid response status', url=URL('wss://h.example.com/KEY?k=V') "
            "Authorization: Bearer pw_live_abcDEF123\\r")
    assert redact_text(text) == (
        "403, message='Invalid response status', url=URL('wss://h.example.com/***?k=***') "
        "Authorization: Bearer ***\\r")
    assert redact_text("token pw_live_abcDEF123 here") == "token pw_live_*** here"
    # Prose about schemes is left alone.
    prose = "expected URLs starting with http:// or https://, got 'ftp://node'"
    assert redact_text(prose) == prose


# ----- `paywatch config show` as a real process, output in files -----

def secret_env() -> dict[str, str]:
    s = SECRETS
    rpc = (f"https://{s['rpc_user']}:{s['rpc_pass']}@rpc.example.com/{s['rpc_path']}"
           f"?api-key={s['rpc_query']}")
    evm = {"name": "base", "chain_id": 8453, "confirmations": 3,
           "rpc_urls": [f"https://base.example.com/v2/{s['evm']}"],
           "ws_urls": [f"wss://base.example.com/v2/{s['evm_ws']}"], "tokens": []}
    return {
        "PAYWATCH_DATABASE_URL": (f"postgresql://pay:{s['db_pass']}@db.internal:5432/paywatch"
                                  f"?sslmode=verify-full&sslpassword={s['db_ssl']}"),
        "PAYWATCH_SOLANA_RPC_URLS": f"{rpc}, http://127.0.0.1:8899",
        "PAYWATCH_SOLANA_WS_URLS": f"wss://ws.example.com/{s['ws_path']}?api-key={s['ws_query']}",
        "PAYWATCH_COINGECKO_URL": f"https://pro-api.coingecko.com/api/v3/simple/price"
                                  f"?x_cg_pro_api_key={s['cg']}",
        "PAYWATCH_KRAKEN_URL": f"https://api.kraken.com/0/public/Ticker/{s['kraken']}",
        "PAYWATCH_CFV_URL": f"https://cfv.example.com/{s['cfv']}",
        "PAYWATCH_EVM_CHAINS": json.dumps([evm]),
    }


def run_cli(tmp_path: Path, args: list[str], env: dict[str, str]) -> tuple[int, str]:
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        code = subprocess.run([PAYWATCH, *args], env=clean_env(**env), cwd=tmp_path,
                              stdout=sink, stderr=subprocess.STDOUT, timeout=60,
                              check=False).returncode
    return code, out.read_text()


@pytest.mark.parametrize("as_json", [True, False])
def test_config_show_masks_every_url(tmp_path: Path, as_json: bool) -> None:
    code, output = run_cli(tmp_path, ["config", "show", *(["--json"] if as_json else [])],
                           secret_env())
    assert code == 0, output
    assert_no_secret(output)
    if as_json:
        view = json.loads(output)
        assert view["PAYWATCH_SOLANA_RPC_URLS"] == [
            "https://***@rpc.example.com/***?api-key=***", "http://127.0.0.1:8899"]
        assert view["PAYWATCH_SOLANA_WS_URLS"] == ["wss://ws.example.com/***?api-key=***"]
        assert view["PAYWATCH_DATABASE_URL"] == (
            "postgresql://***@db.internal:5432/***?sslmode=***&sslpassword=***")
        assert view["PAYWATCH_CFV_URL"] == "https://cfv.example.com/***"
        assert view["PAYWATCH_EVM_CHAINS"][0]["rpc_urls"] == ["https://base.example.com/***"]


def test_a_refused_url_is_named_without_its_secret(tmp_path: Path) -> None:
    bad = f"ftp://{SECRETS['rpc_user']}:{SECRETS['rpc_pass']}@node/{SECRETS['rpc_path']}"
    code, output = run_cli(tmp_path, ["config", "show"], {"PAYWATCH_SOLANA_RPC_URLS": bad})
    assert code == 2
    assert "PAYWATCH_SOLANA_RPC_URLS" in output
    assert "ftp://***@node/***" in output
    assert_no_secret(output)


# ----- log capture through our own formatter, as the daemon writes it -----

class Capture(logging.Handler):
    """Formats every record with the daemon's JSON formatter; `seen(text)` waits for a line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.out = io.StringIO()
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.out.write(self.format(record) + "\n")
        self.changed.set()

    async def seen(self, text: str, within_s: float = 30) -> None:
        async with asyncio.timeout(within_s):
            while text not in self.out.getvalue():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def captured() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


FAILING = web.AppKey("failing", list)  # [bool]: the node answers 502 while it holds True


async def _rpc(request: web.Request) -> web.Response:
    body = await request.json()
    if request.app[FAILING][0]:
        return web.Response(status=502)
    return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": "ok"})


async def _refuse_ws(_request: web.Request) -> web.Response:
    return web.Response(status=403, text="bad key")


@pytest.fixture
async def upstream() -> AsyncIterator[TestServer]:
    """A JSON-RPC node answering on any path (keys live in paths), refusing every WebSocket."""
    app = web.Application()
    app[FAILING] = [False]
    app.router.add_post("/{tail:.*}", _rpc)
    app.router.add_get("/{tail:.*}", _refuse_ws)
    server = TestServer(app)
    # The fake provider's own access log would quote the keys it was sent: not ours to judge.
    await server.start_server(access_log=None)
    yield server
    await server.close()


def keyed(server: TestServer, scheme: str = "http") -> str:
    s = SECRETS
    return (f"{scheme}://{s['rpc_user']}:{s['rpc_pass']}@127.0.0.1:{server.port}/{s['rpc_path']}"
            f"?api-key={s['rpc_query']}")


async def test_metrics_labels_and_pool_logs_show_no_url_secrets(
        api: TestClient, upstream: TestServer, captured: Capture) -> None:
    async with aiohttp.ClientSession() as session:
        pool = RpcPool([keyed(upstream)], session, trip_after=1, rounds=1, backoff_s=0)
        assert await pool.call("getHealth", []) == "ok"
        upstream.app[FAILING][0] = True
        with pytest.raises(RpcUnavailable) as failed:
            await pool.call("getSlot", [])
    await captured.seen("rpc endpoint tripped")
    resp = await api.get("/metrics")
    metrics = await resp.text()
    assert f'endpoint="http://***@127.0.0.1:{upstream.port}/***?api-key=***"' in metrics
    assert_no_secret(metrics)
    assert_no_secret(str(failed.value))
    assert_no_secret(captured.out.getvalue())


async def _until_cancelled(stream: Any, capture: Capture, line: str) -> None:
    task = asyncio.create_task(stream.run())
    try:
        await capture.seen(line)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def _nothing(*_args: object) -> None:
    return None


async def test_solana_reconnect_log_shows_no_url_secrets(upstream: TestServer,
                                                         captured: Capture) -> None:
    async with aiohttp.ClientSession() as session:
        stream = LogStream([keyed(upstream, "ws")], session, "confirmed", lambda _s: None,
                           _nothing, max_backoff_s=0.01)
        await _until_cancelled(stream, captured, "websocket lost; reconnecting")
    output = captured.out.getvalue()
    assert f"ws://***@127.0.0.1:{upstream.port}/***?api-key=***" in output
    assert_no_secret(output)


async def test_evm_reconnect_log_shows_no_url_secrets(upstream: TestServer,
                                                      captured: Capture) -> None:
    async with aiohttp.ClientSession() as session:
        stream = HeadStream("base", [keyed(upstream, "ws")], session, [], lambda: None,
                            lambda _seen: None, max_backoff_s=0.01)
        await _until_cancelled(stream, captured, "websocket lost; reconnecting")
    assert_no_secret(captured.out.getvalue())
