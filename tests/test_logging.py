"""Logs a person can read, from a real `paywatch run` (output in a file): an idle daemon writes
no job lines, third-party loggers stay at WARNING, and malformed requests or clients that hang
up mid-body are neither ERRORs nor tracebacks, and never put a credential in the log."""

from __future__ import annotations

import json
import logging
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from paywatch.logs import ConsoleFormatter, JsonFormatter
from tests.conftest import PAYWATCH, clean_env, free_port, make_store


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - our own localhost
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(condition: Callable[[], bool], daemon: Daemon, what: str,
             within_s: float = 90) -> None:
    """Poll `condition` until true; fail (showing the daemon's log) after `within_s`."""
    deadline = time.monotonic() + within_s
    while not condition():
        if daemon.proc.poll() is not None:
            pytest.fail(f"paywatch run exited ({daemon.proc.returncode}):\n"
                        f"{daemon.log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}:\n{daemon.log.read_text()}")
        time.sleep(0.05)


def metric(daemon: Daemon, pattern: str) -> float:
    """The sum of the /metrics samples whose line matches `pattern` (0 when none)."""
    try:
        _status, text = get(f"{daemon.base}/metrics")
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if not line.startswith("#") and re.search(pattern, line))


def ready(daemon: Daemon) -> bool:
    try:
        return get(f"{daemon.base}/readyz")[0] == 200
    except OSError:
        return False


@contextmanager
def daemon(tmp_path: Path, db_dsn: str, level: str) -> Iterator[Daemon]:
    port = free_port()
    log = tmp_path / "paywatch.log"
    env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_API_PORT=str(port),
                    PAYWATCH_LOG_FORMAT="json", PAYWATCH_LOG_LEVEL=level,
                    PAYWATCH_SOLANA_WATCH="false", PAYWATCH_DATA_DIR=str(tmp_path / "data"))
    with log.open("wb") as sink:
        proc = subprocess.Popen([PAYWATCH, "run"], env=env, cwd=tmp_path,
                                stdout=sink, stderr=subprocess.STDOUT)
    running = Daemon(proc, port, log)
    try:
        wait_for(lambda: ready(running), running, "/readyz 200")
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            proc.kill()


def stop(running: Daemon) -> list[dict[str, Any]]:
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(timeout=60) == 0, running.log.read_text()
    return running.lines()


def test_an_idle_daemon_writes_no_job_lines_at_info(tmp_path: Path, db_dsn: str) -> None:
    with daemon(tmp_path, db_dsn, "INFO") as running:
        runs = 'paywatch_job_runs_total{job="deliver_webhooks"'
        before = metric(running, re.escape(runs))
        # Eight more webhook ticks (0.25 s apart): the scheduler is certainly running jobs.
        wait_for(lambda: metric(running, re.escape(runs)) >= before + 8, running,
                 "eight deliver_webhooks runs")
        lines = stop(running)
    noisy = [line for line in lines if not line["logger"].startswith("paywatch")]
    assert not noisy, "\n".join(json.dumps(line) for line in noisy)
    assert not [line for line in lines if "job" in line["msg"].lower()]


def exchange(port: int, raw: bytes) -> bytes:
    """Send raw bytes and read the answer until the server closes (it always does after a
    malformed request; a half-close from our side would make it skip the answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def hang_up_mid_body(port: int, key: str) -> None:
    """Announce 1000 bytes of body, send 10, and close (what wrk does when its run ends)."""
    head = (f"POST /v1/payments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + b'{"amount":')


async def test_malformed_and_abandoned_requests_log_no_error_and_no_secret(
        tmp_path: Path, db_dsn: str, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    key = headers["Authorization"].removeprefix("Bearer ")
    # DEBUG lifts our loggers only: even then nothing below may show a key or a traceback.
    with daemon(tmp_path, db_dsn, "DEBUG") as running:
        # A key followed by a stray \r: aiohttp refuses the header and used to log it raw.
        answer = exchange(running.port, f"GET /v1/me HTTP/1.1\r\nHost: x\r\n"
                                        f"Authorization: Bearer {key}\r\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400")
        for raw in (b"GET /v1/me HTTP/1.1 trailing\r\nHost: x\r\n\r\n",
                    b"GET /v1/me HTTP/1.1\r\nBad Header: x\r\n\r\n",
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"):
            assert b" 400 " in exchange(running.port, raw).split(b"\r\n", 1)[0]
        assert metric(running, r"paywatch_http_malformed_requests_total") >= 4
        posts = r'paywatch_http_requests_total\{method="POST",route="/v1/payments"'
        hang_up_mid_body(running.port, key)
        wait_for(lambda: metric(running, posts) >= 1, running, "the abandoned POST counted")
        assert metric(running, r"paywatch_http_client_disconnects_total") >= 1
        assert metric(running, posts + r',status="500"') == 0
        lines = stop(running)
    text = running.log.read_text()
    assert key not in text
    assert key[8:20] not in text
    assert "Traceback" not in text
    errors = [line for line in lines if line["level"] in ("error", "critical")]
    assert not errors, "\n".join(json.dumps(line) for line in errors)
    assert not [line for line in lines if "exc" in line]


@pytest.mark.parametrize("formatter", [JsonFormatter(), ConsoleFormatter()],
                         ids=["json", "console"])
def test_formatters_mask_what_a_library_quotes(formatter: logging.Formatter) -> None:
    """A safety net under the call sites: URLs and keys inside a message, a field or a
    traceback are masked by the formatter that writes the line."""
    try:
        raise ValueError("url=URL('wss://node.example.com/pathKEY1') Bearer tokenKEY2")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("aiohttp.client", logging.WARNING, __file__, 1, "failed: %s",
                               ("https://userKEY3:passKEY4@rpc.example.com/?api-key=KEY5",),
                               exc_info)
    record.endpoint = "https://rpc.example.com/v2/KEY6"
    record.tried = ["https://rpc.example.com/KEY7", 3]
    record.key = "pw_live_KEY8abc"
    line = formatter.format(record)
    assert "KEY" not in line, line
    assert "https://***@rpc.example.com/?api-key=***" in line
    assert "wss://node.example.com/***" in line
    if isinstance(formatter, JsonFormatter):
        entry = json.loads(line)
        assert entry["tried"] == ["https://rpc.example.com/***", 3]
