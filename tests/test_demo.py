"""`paywatch demo --once` on a machine with no PostgreSQL configured: embedded database,
simnet, the daemon and a webhook receiver; exits 0 once the payment's webhooks arrived."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import PAYWATCH, clean_env


def test_demo_once_runs_a_payment_to_its_webhooks(tmp_path: Path) -> None:
    env = clean_env(PAYWATCH_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run([PAYWATCH, "demo", "--once", "--port", "0"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for step in ("created", "checkout page: http://127.0.0.1:", "/pay/",
                 "paid from a simnet wallet", "payment confirmed", "paid",
                 "webhook payment.confirmed delivered, signature verified",
                 "webhook order.paid delivered, signature verified"):
        assert step in out
    assert "pw_live_" in out
    assert "Traceback" not in done.stderr
