"""PostgreSQL restarted under a running daemon, in the middle of a stream of payments: the daemon
reconnects (pool, the watcher's LISTEN connection, the leader's lock session) and loses nothing.

The server is a private embedded PostgreSQL (pgserver) in a temporary directory, restarted with
its own pg_ctl: never the shared server other tests use."""

from __future__ import annotations

import asyncio
import signal
import time
import warnings
from pathlib import Path

import pytest

from db.embedded import ensure_database, with_database
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

PAYMENTS = 120


def private_server(directory: Path) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        return pgserver.get_server(directory, cleanup_mode="delete")


def restart(server: object) -> None:
    """pg_ctl restart -m fast: every session is cut, the server is back a moment later."""
    from pgserver._commands import pg_ctl

    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata,  # type: ignore[attr-defined]
           user=server.system_user)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_postgres_restart_mid_stream_loses_nothing(tmp_path: Path, pg_home: Path) -> None:
    server = private_server(pg_home / "pg")
    try:
        dsn = with_database(server.get_uri(), "paywatch")  # type: ignore[attr-defined]
        asyncio.run(ensure_database(server.get_uri(), "paywatch"))  # type: ignore[attr-defined]
        run_stream_with_restarts(dsn, server, tmp_path)
    finally:
        server.cleanup()  # type: ignore[attr-defined]


def run_stream_with_restarts(dsn: str, server: object, tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    with simnet_process(tmp_path) as (rpc_url, ws_url), webhook_receiver() as (receiver, hook):
        env = clean_env(PAYWATCH_DATABASE_URL=dsn, PAYWATCH_SOLANA_RPC_URLS=rpc_url,
                        PAYWATCH_SOLANA_WS_URLS=ws_url, PAYWATCH_WEBHOOK_ALLOW_PRIVATE="true",
                        PAYWATCH_WEBHOOK_LEASE_SECONDS="3",
                        PAYWATCH_API_RATE_LIMIT_PER_MINUTE="1000000")
        daemon, base = start_daemon(env, tmp_path, log)
        try:
            wait_ready(base, daemon)
            key = store_and_key(env, tmp_path)
            post(f"{base}/v1/webhook_endpoints", key, {"url": hook})
            urls = [post(f"{base}/v1/payments", key, {"amount": "1", "currency": "USD",
                                                      "asset": "SOL"})["payment_request"]["url"]
                    for _ in range(PAYMENTS)]
            payer = Payer(rpc_url, urls, 20, 0.5)
            payer.start()
            restarts = 0
            while not payer.done.is_set() and restarts < 2:
                time.sleep(1.5)
                restart(server)
                restarts += 1
            payer.join(120)
            assert len(payer.errors) <= PAYMENTS // 20, payer.errors[:5]
            wait_until(lambda: unconfirmed(dsn, payer.paid) == 0,
                       "every paid payment to be confirmed after the restarts", 120,
                       detail=lambda: _state(dsn))
            events = {str(r) for r in event_ids(dsn)}
            wait_until(lambda: events <= receiver.seen, "every event at the receiver", 120)
            assert daemon.poll() is None, "the daemon died instead of reconnecting"
            wait_ready(base, daemon)  # and it says it is ready again
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(60)
    assert restarts >= 1
    errors = [line for line in log.read_text().splitlines() if '"level": "error"' in line]
    assert errors == []  # a database restart is an expected event: warnings, not errors
    assert_paid_once(dsn, len(payer.paid))



def _state(dsn: str) -> str:
    """What the database holds, for a failure message."""
    rows = fetchval(dsn, "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, "
                         "count(*) AS n FROM payments GROUP BY status) s")
    transfers = fetchval(dsn, "SELECT count(*) FROM transfers")
    return f"payments: {rows}; transfers: {transfers}"
