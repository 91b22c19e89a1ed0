"""Property-based run of schemathesis against /openapi.json of a real `paywatch run`:
no request may produce a 5xx, and no response may break the document's own schema.

CI runs a bounded number of examples per operation with a fixed seed (reproducible, well under
two minutes on two cores); set PAYWATCH_SCHEMATHESIS_EXAMPLES to run longer on demand, and
PAYWATCH_SCHEMATHESIS_SEED to explore other inputs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PAYWATCH, clean_env
from tests.test_daemon import start, stop, wait_ready

SCHEMATHESIS = str(Path(PAYWATCH).with_name("schemathesis"))
RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
EXAMPLES = int(os.environ.get("PAYWATCH_SCHEMATHESIS_EXAMPLES", "10"))
SEED = int(os.environ.get("PAYWATCH_SCHEMATHESIS_SEED", "1"))


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PAYWATCH, *args], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        db_dsn: str, tmp_path: Path) -> None:
    env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_API_RATE_LIMIT_PER_MINUTE="1000000",
                    PAYWATCH_SOLANA_WATCH="false")
    cli(env, "stores", "create", "Fuzz Shop", "--solana-recipient", RECIPIENT)
    key = cli(env, "keys", "create", "--store", "fuzz-shop", "--scopes", "payments:read",
              "payments:write", "orders:read", "orders:write", "admin").splitlines()[0]
    report = tmp_path / "schemathesis.txt"
    proc, base = start(env, tmp_path)
    try:
        wait_ready(base, proc)
        with report.open("w", encoding="utf-8") as out:
            run = subprocess.run(
                [SCHEMATHESIS, "run", f"{base}/openapi.json", "-H", f"Authorization: Bearer {key}",
                 "--checks", "not_a_server_error,response_schema_conformance,"
                 "status_code_conformance",
                 "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--no-color",
                 "--workers", "1", "--phases", "examples,coverage,fuzzing"],
                stdout=out, stderr=subprocess.STDOUT, text=True, timeout=600, check=False,
                cwd=tmp_path)
    finally:
        stop(proc, timeout=30)
    summary = report.read_text(encoding="utf-8")[-6000:]
    assert run.returncode == 0, summary + "\n" + proc.tail(2000)
    assert "generated" in summary, summary
    assert " failed" not in summary.split("Test cases:")[-1], summary
