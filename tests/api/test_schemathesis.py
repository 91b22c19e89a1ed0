"""Property-based run of schemathesis against /openapi.json of a real `paywatch run`:
no request may produce a 5xx, and no response may break the document's own schema."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.conftest import PAYWATCH, clean_env
from tests.test_daemon import start, wait_ready

SCHEMATHESIS = str(Path(PAYWATCH).with_name("schemathesis"))
RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PAYWATCH, *args], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        db_dsn: str, tmp_path: Path) -> None:
    env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_API_RATE_LIMIT_PER_MINUTE="1000000",
                    PAYWATCH_SOLANA_WATCH="false")
    cli(env, "stores", "create", "Fuzz Shop", "--solana-recipient", RECIPIENT)
    key = cli(env, "keys", "create", "--store", "fuzz-shop", "--scopes", "payments:read",
              "payments:write", "orders:read", "orders:write", "admin").splitlines()[0]
    proc, base = start(env, tmp_path)
    try:
        wait_ready(base, proc)
        run = subprocess.run(
            [SCHEMATHESIS, "run", f"{base}/openapi.json", "-H", f"Authorization: Bearer {key}",
             "--checks", "not_a_server_error,response_schema_conformance",
             "--max-examples", "30", "--seed", "1", "--no-color",
             "--phases", "examples,coverage,fuzzing"],
            capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    summary = run.stdout[-3000:]
    assert run.returncode == 0, summary
    assert "generated" in summary
    assert " failed" not in summary.split("Test cases:")[-1]
