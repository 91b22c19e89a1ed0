"""`paywatch demo` on a machine with no PostgreSQL configured: embedded database, simnet, the
daemon and a webhook receiver; --once exits 0 once the payment's webhooks arrived. It prints its
timeline and nothing else, keeps its data to itself and removes it when it exits. While it runs,
the dashboard address it prints answers with the sign-in page and the key it prints signs in."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from pathlib import Path

import aiohttp

from tests.conftest import PAYWATCH, clean_env, free_port
from tests.dashboard.helpers import fields

# The timeline, the "try next" block and blank lines around them; log noise would be hundreds.
MAX_ONCE_LINES = 40


def test_demo_once_runs_a_payment_to_its_webhooks(tmp_path: Path, pg_home: Path) -> None:
    data = pg_home / "data"
    rpc_port, ws_port = free_port(), free_port()
    out = tmp_path / "demo.out"
    with out.open("w") as sink:
        done = subprocess.run([PAYWATCH, "demo", "--once", "--port", "0", "--rpc-port",
                               str(rpc_port), "--ws-port", str(ws_port)],
                              env=clean_env(PAYWATCH_DATA_DIR=str(data)), cwd=tmp_path,
                              stdout=sink, stderr=subprocess.STDOUT, timeout=180, check=False)
    text = out.read_text()
    assert done.returncode == 0, text[-3000:]
    for step in ("created", "checkout page: http://127.0.0.1:", "/pay/",
                 "paid from a simnet wallet", "payment confirmed", "paid",
                 "webhook payment.confirmed delivered, signature verified",
                 "webhook order.paid delivered, signature verified"):
        assert step in text
    assert "pw_live_" in text
    # The figure the issue tracks, printed by the demo itself (its value is the bench's
    # business, never asserted here).
    assert re.search(r"payment created -> both webhooks verified: \d+\.\d\d s", text), text
    assert f"--rpc-url http://127.0.0.1:{rpc_port}" in text  # the chain on the chosen port
    # Only the timeline: no INFO log lines (APScheduler, the RPC client, our own), no tracebacks.
    lines = text.splitlines()
    assert [line for line in lines if " INFO " in line] == []
    assert "Traceback" not in text
    assert len(lines) <= MAX_ONCE_LINES, text
    # The demo's store, key and webhook endpoint went with it: nothing is left in the data dir
    # for a later demo (or a later `paywatch run` on it) to retry.
    assert list(data.iterdir()) == []


def test_demo_removes_its_data_on_ctrl_c(tmp_path: Path, pg_home: Path) -> None:
    data = pg_home / "data"
    out = tmp_path / "demo.out"
    with out.open("w") as sink:
        demo = subprocess.Popen([PAYWATCH, "demo", "--port", "0", "--rpc-port", "0",
                                 "--ws-port", "0"], env=clean_env(PAYWATCH_DATA_DIR=str(data)),
                                cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while "Try next" not in out.read_text():
                assert demo.poll() is None, out.read_text()[-3000:]
                assert time.monotonic() < deadline, out.read_text()[-3000:]
                time.sleep(0.1)
            assert any(data.iterdir())  # it is running on its own data, under the data dir
            asyncio.run(sign_in_as_printed(out.read_text()))
            demo.send_signal(signal.SIGINT)
            assert demo.wait(timeout=60) == 0, out.read_text()[-3000:]
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
    assert list(data.iterdir()) == [], out.read_text()[-3000:]
    assert "Traceback" not in out.read_text()


async def sign_in_as_printed(text: str) -> None:
    """What the "Try next" block tells a person to do: open the dashboard address, paste the
    key on the sign-in page it shows; they are then signed in to the demo store."""
    url = re.search(r"^  dashboard: +(http://\S+/dashboard)$", text, re.MULTILINE)
    key = re.search(r"^  API key \(demo store\): +(pw_live_\S+)$", text, re.MULTILINE)
    assert url, text
    assert key, text
    assert "paste the API key above on its sign-in page" in text
    # unsafe: keep the cookies of a server addressed by IP (127.0.0.1), as a browser does
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(url[1]) as page:       # signed out: redirected to sign in
            assert page.status == 200
            assert page.url.path == "/dashboard/sign-in"
            form = await page.text()
        assert "Sign in to the dashboard" in form
        async with http.post(page.url.with_query(None), allow_redirects=False, data={
                "csrf": fields(form)["csrf"], "api_key": key[1], "next": "/dashboard"}) as done:
            assert done.status == 303, await done.text()
            assert done.headers["Location"] == "/dashboard"
        async with http.get(url[1], allow_redirects=False) as home:
            assert home.status == 200
            assert 'id="store-name">Demo Shop<' in await home.text()
