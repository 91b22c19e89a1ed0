"""A standby watcher process holds one database session and waits on the chain's lock there,
instead of reconnecting every few seconds; it takes over the moment the leader lets go."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from prometheus_client import REGISTRY

from db import queries
from watcher.leader import lead

CHAIN = "standby-test"


def leader_gauge() -> float | None:
    return REGISTRY.get_sample_value("paywatch_watcher_leader", {"chain": CHAIN})


async def until(check: object, what: str, seconds: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():  # type: ignore[operator]
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_standby_waits_on_one_session_and_takes_over_at_once(
        db_dsn: str, pool: asyncpg.Pool) -> None:
    key = queries.watcher_lock_key(CHAIN)
    leader = await asyncpg.connect(db_dsn)
    assert await leader.fetchval(queries.TRY_ADVISORY_LOCK, key)
    leading = asyncio.Event()

    async def run() -> None:
        leading.set()
        await asyncio.Event().wait()

    standby = asyncio.create_task(lead(db_dsn, CHAIN, run, retry_s=0.01))
    try:
        async def waiting_on_the_lock() -> bool:
            rows = await pool.fetch(
                "SELECT pid, wait_event FROM pg_stat_activity WHERE application_name LIKE $1"
                " AND datname = current_database()",  # another test's watchers share the server
                f"paywatch-watcher-{CHAIN}-%")
            return len(rows) == 1 and rows[0]["wait_event"] == "advisory"

        # One session, blocked on the lock: not a new connection per retry.
        await until(waiting_on_the_lock, "the standby to wait on the lock")
        assert not leading.is_set()
        assert leader_gauge() == 0          # a standby says it does not lead
        await leader.close()  # the leader's session ends; PostgreSQL releases its lock
        await asyncio.wait_for(leading.wait(), 20)
        assert leader_gauge() == 1
    finally:
        standby.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await standby
        if not leader.is_closed():
            await leader.close()
    assert leader_gauge() == 0              # stopped: it leads no more
