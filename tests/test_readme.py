"""The README's copyable webhook verifier must accept what paywatch signs, and nothing else."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from paywatch.core.webhooks import sign
from tests.conftest import ROOT, clean_env, free_port


def readme_verifier() -> object:
    text = (Path(ROOT) / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code is not None, "the README lost its verification snippet"
    namespace: dict[str, object] = {}
    exec(code.group(1), namespace)  # noqa: S102 - our own README, run as merchants would
    return namespace["verify_signature"]


def test_the_readme_verifier_matches_the_signer() -> None:
    verify = readme_verifier()
    body, now = b'{"id":"evt_1","type":"payment.confirmed"}', int(time.time())
    verify(body, sign("whsec_a", now, body), "whsec_a")  # type: ignore[operator]
    for header, why in ((sign("whsec_b", now, body), "mismatch"),
                        (sign("whsec_a", now - 3600, body), "stale"),
                        ("v1=deadbeef", "stale")):
        with pytest.raises(ValueError, match=why):
            verify(body, header, "whsec_a")  # type: ignore[operator]
    with pytest.raises(ValueError, match="mismatch"):
        verify(body + b" ", sign("whsec_a", now, body), "whsec_a")  # type: ignore[operator]


# ----- the curl walkthrough, run as printed -------------------------------------------------

WALKTHROUGH = "## A store, a key, an order and a payment, with curl"


def walkthrough_blocks() -> list[str]:
    text = (Path(ROOT) / "README.md").read_text()
    section = text[text.index(WALKTHROUGH):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def _wait_for(url: str, log: Path, process: subprocess.Popen[bytes]) -> None:
    """Until `url` answers below 500 (/readyz is 503 until migrated; simnet's RPC answers a GET
    with 405), or fail with the process's output."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own local server
                return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)


@pytest.mark.slow
def test_the_curl_walkthrough_runs_as_printed(tmp_path: Path, db_dsn: str) -> None:
    """Simnet and `paywatch run` started by the README's own lines (ports chosen through the
    configuration they read), then every walkthrough line run in one shell, as printed."""
    chain_block, daemon_block, *steps = walkthrough_blocks()
    assert ".venv/bin/paywatch simnet" in chain_block
    assert "PAYWATCH_WEBHOOK_ALLOW_PRIVATE=true .venv/bin/paywatch run" in daemon_block
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # `.venv/bin/paywatch` is this install
    rpc_port, ws_port, api_port = free_port(), free_port(), free_port()
    pw = f"http://127.0.0.1:{api_port}"
    env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_DATA_DIR=str(tmp_path / "data"),
                    PAYWATCH_SOLANA_RPC_URLS=f"http://127.0.0.1:{rpc_port}",
                    PAYWATCH_SOLANA_WS_URLS=f"ws://127.0.0.1:{ws_port}",
                    PAYWATCH_API_PORT=str(api_port), PW=pw)
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for name, block, url in (("simnet", chain_block, f"http://127.0.0.1:{rpc_port}"),
                                 ("daemon", daemon_block, f"{pw}/readyz")):
            log = tmp_path / f"{name}.log"
            with log.open("wb") as sink:
                servers.append(subprocess.Popen(["bash", "-c", block],
                                                env=env, cwd=tmp_path, stdout=sink,
                                                stderr=subprocess.STDOUT))
            _wait_for(url, log, servers[-1])
        out, trace = tmp_path / "walkthrough.out", tmp_path / "walkthrough.trace"
        with out.open("w") as sink, trace.open("w") as trace_sink:
            done = subprocess.run(["bash", "-c", "set -euxo pipefail\n" + "\n".join(steps)],
                                  env=env, cwd=tmp_path, stdout=sink, stderr=trace_sink,
                                  timeout=120, check=False)
        text = out.read_text()
        assert done.returncode == 0, text[-2000:] + trace.read_text()[-3000:]
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(timeout=30)
    answers, states = json_answers(text)
    order, endpoint, payment = answers[2], answers[3], answers[4]
    assert (order["status"], order["total"]) == ("pending_payment", "30.00")
    assert endpoint["url"] == "http://127.0.0.1:9000/webhooks"
    assert (payment["status"], payment["amount_due"]) == ("pending", "200000000")
    assert (states[-1]["state"], states[-1]["final"]) == ("confirmed", True)  # stream ended
    assert answers[5]["status"] == "paid"  # the order, after the stream ended
    assert "payment.confirmed" in {event["type"] for event in answers[6]["data"]}
    # Analytics over the default range (the last 30 days) counts the payment, whatever the date.
    assert (answers[7]["created"], answers[7]["confirmed"]) == (1, 1)


def json_answers(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The JSON documents curl printed (one after another, not always on their own lines),
    and the event stream's `data:` states; other lines (a signature, "created store") skipped."""
    decoder, answers, states, at = json.JSONDecoder(), [], [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
        elif text.startswith("data: ", at):
            state, at = decoder.raw_decode(text, at + len("data: "))
            states.append(state)
        elif text[at] == "{":
            answer, at = decoder.raw_decode(text, at)
            answers.append(answer)
        else:
            at = text.find("\n", at) % (len(text) + 1) + 1  # the rest of a plain line
    return answers, states
