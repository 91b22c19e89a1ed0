"""SIGKILL the daemon at random moments while a stream of 500 payments is being paid, restart it,
repeat. At the end every payment is confirmed exactly once, what each received equals what was
sent, and every event reached the webhook receiver at least once (no id lost).

The kill moments come from a seeded random; the seed is printed (PAYWATCH_FAULT_SEED replays)."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import clean_env, simnet_process
from tests.faults.harness import (
    Payer,
    assert_paid_once,
    event_ids,
    start_daemon,
    unconfirmed,
    wait_until,
    webhook_receiver,
)
from tests.test_daemon import wait_ready
from tests.test_many_processes import fetchval, store_and_key
from tests.watcher.test_run_with_simnet import post

PAYMENTS = 500
BATCH = 20


@pytest.mark.slow
def test_sigkill_storm_during_500_payments_loses_nothing(db_dsn: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("PAYWATCH_FAULT_SEED", random.randrange(10**6)))
    print(f"fault seed {seed} (PAYWATCH_FAULT_SEED={seed} replays the kill moments)")
    rng = random.Random(seed)
    log = tmp_path / "daemon.log"
    with simnet_process(tmp_path) as (rpc_url, ws_url), webhook_receiver() as (receiver, hook):
        env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_SOLANA_RPC_URLS=rpc_url,
                        PAYWATCH_SOLANA_WS_URLS=ws_url, PAYWATCH_WEBHOOK_ALLOW_PRIVATE="true",
                        PAYWATCH_WEBHOOK_LEASE_SECONDS="3",
                        PAYWATCH_API_RATE_LIMIT_PER_MINUTE="1000000")
        key = store_and_key(env, tmp_path)
        daemon, base = start_daemon(env, tmp_path, log)
        kills = 0
        try:
            wait_ready(base, daemon)
            post(f"{base}/v1/webhook_endpoints", key, {"url": hook})
            urls = [post(f"{base}/v1/payments", key, {"amount": "1", "currency": "USD",
                                                      "asset": "SOL"})["payment_request"]["url"]
                    for _ in range(PAYMENTS)]
            payer = Payer(rpc_url, urls, BATCH, 0.5)
            payer.start()
            while not payer.done.is_set():
                time.sleep(rng.uniform(0.3, 2.5))
                daemon.send_signal(signal.SIGKILL)
                daemon.wait(30)
                kills += 1
                daemon, base = start_daemon(env, tmp_path, log)
                wait_ready(base, daemon)
            payer.join(60)
            assert len(payer.errors) <= PAYMENTS // 20, payer.errors[:5]
            wait_until(lambda: unconfirmed(db_dsn, payer.paid) == 0,
                       "every paid payment to be confirmed", 120)
            events = {str(e) for e in event_ids(db_dsn)}
            wait_until(lambda: events <= receiver.seen, "every event at the receiver", 120)
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(30)
    print(f"{kills} kills; {receiver.deliveries} deliveries of {len(events)} events")
    assert kills >= 3, "the stream ended before the daemon was killed a few times"
    assert "Traceback" not in log.read_text()  # a killed process writes none: any is a bug
    assert_paid_once(db_dsn, len(payer.paid))
    created = fetchval(db_dsn, "SELECT count(*) FROM events WHERE type = 'payment.created'")
    assert created == PAYMENTS
    assert events <= receiver.seen  # at least once, no id lost

