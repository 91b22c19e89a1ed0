"""Processes for the fault suite: `paywatch run` with its logs in a file (a pipe nobody reads
would fill and stall it), a webhook receiver that records every event id it is sent, and bounded
waits that fail with what they were waiting for."""

from __future__ import annotations

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


def wait_until(check: Callable[[], bool], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out after {seconds:.0f} s waiting for {what}"
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
