"""db/listen.py, the one LISTEN-and-reload loop: it reloads at every (re)connect, hands each
notification over, and always gives its pooled connection back clean, whether it is cancelled
while waiting, cancelled mid-query, or ends because its work is done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from db.listen import listen_and_reload
from db.pool import create_pool
from tests.conftest import until

CHANNEL = "paywatch_test_listen"
NEVER_S = 3600.0
BOUND_S = 10.0  # a failure bound, not a duration under test


class Recorder:
    """What the loop did: its reloads, the payloads it was handed, the changes it applied."""

    def __init__(self) -> None:
        self.reloads = 0
        self.payloads: list[str] = []
        self.applied: list[str] = []
        self.in_reload = asyncio.Event()
        self.hold_reload = False  # the next reload sleeps in the database until cancelled

    async def reload(self, conn: asyncpg.Connection) -> None:
        self.reloads += 1
        if self.hold_reload:
            self.in_reload.set()
            await conn.execute("SELECT pg_sleep(3600)")

    def on_notify(self, payload: str) -> bool:
        self.payloads.append(payload)
        return payload != "ignore"

    async def changed(self, _conn: asyncpg.Connection) -> None:
        self.applied, self.payloads = self.applied + self.payloads, []


@pytest.fixture
async def one_connection(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    small = await create_pool(db_dsn, min_size=1, max_size=1)
    yield small
    # The point of these tests: this returns, because the loop's connection came back.
    await asyncio.wait_for(small.close(), BOUND_S)


@contextlib.asynccontextmanager
async def running(pool: asyncpg.Pool, rec: Recorder,
                  done: Callable[[], bool] = lambda: False) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.get_running_loop().create_task(listen_and_reload(
        pool, CHANNEL, name="test", reload=rec.reload, changed=rec.changed,
        on_notify=rec.on_notify, every_s=NEVER_S, done=done, retry_s=0.01))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def assert_given_back_clean(pool: asyncpg.Pool) -> None:
    async with pool.acquire(timeout=BOUND_S) as conn:
        assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0
        assert not conn._con._termination_listeners  # asyncpg has no public view of these
        assert not conn._con._listeners


async def test_notifications_are_handed_over_and_applied(
        one_connection: asyncpg.Pool, pool: asyncpg.Pool) -> None:
    rec = Recorder()
    async with running(one_connection, rec):
        await until(lambda: rec.reloads == 1, "the first reload")
        await pool.execute(f"NOTIFY {CHANNEL}, 'ignore'")  # no work: nothing applied
        await pool.execute(f"NOTIFY {CHANNEL}, 'a'")
        await until(lambda: rec.applied == ["ignore", "a"], "the change to be applied")
        assert rec.reloads == 1  # a notification applies a change, it does not reload
    await assert_given_back_clean(one_connection)


async def test_cancelled_while_waiting_gives_the_connection_back(
        one_connection: asyncpg.Pool) -> None:
    rec = Recorder()
    async with running(one_connection, rec):
        await until(lambda: rec.reloads == 1, "the first reload")
    await assert_given_back_clean(one_connection)


async def test_cancelled_mid_query_gives_the_connection_back(
        one_connection: asyncpg.Pool) -> None:
    rec = Recorder()
    rec.hold_reload = True
    async with running(one_connection, rec):
        await asyncio.wait_for(rec.in_reload.wait(), BOUND_S)
    await assert_given_back_clean(one_connection)


async def test_done_ends_the_loop_and_gives_the_connection_back(
        one_connection: asyncpg.Pool, pool: asyncpg.Pool) -> None:
    rec = Recorder()
    finished = False
    async with running(one_connection, rec, done=lambda: finished) as task:
        await until(lambda: rec.reloads == 1, "the first reload")
        finished = True
        await pool.execute(f"NOTIFY {CHANNEL}, 'a'")  # wakes the loop, which sees it is done
        await asyncio.wait_for(task, BOUND_S)
    await assert_given_back_clean(one_connection)


async def test_a_dropped_connection_is_replaced_and_everything_reloaded(
        one_connection: asyncpg.Pool, pool: asyncpg.Pool) -> None:
    rec = Recorder()
    async with running(one_connection, rec):
        await until(lambda: rec.reloads == 1, "the first reload")
        # as a database restart or an admin would (its last statement was its LISTEN)
        killed = await pool.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN %'")
        assert killed == 1
        # Notifications sent while nobody listened are lost: the reload covers them.
        await until(lambda: rec.reloads == 2, "the reload after reconnecting")
        await pool.execute(f"NOTIFY {CHANNEL}, 'b'")
        await until(lambda: rec.applied == ["b"], "a change after reconnecting")
    await assert_given_back_clean(one_connection)


async def test_a_cancel_that_meets_a_notification_is_not_lost(
        one_connection: asyncpg.Pool, pool: asyncpg.Pool) -> None:
    """The shutdown hang of `paywatch run` during a burst of payments: the loop was cancelled in
    the same instant a notification woke it. Python 3.11's asyncio.wait_for then returns the
    wake-up and drops the cancel, and the loop listened on after its watcher had stopped, so the
    process never exited. Here the cancel is queued by the notification itself, just ahead of
    the wake-up, which is that instant every time."""
    rec = Recorder()
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []

    def cancel_then_wake(payload: str) -> bool:
        loop.call_soon(tasks[0].cancel)
        return True

    rec.on_notify = cancel_then_wake  # type: ignore[method-assign]
    async with running(one_connection, rec) as task:
        tasks.append(task)
        await until(lambda: rec.reloads == 1, "the first reload")
        await pool.execute(f"NOTIFY {CHANNEL}, 'a'")
        await until(task.done, "the cancelled loop to end", seconds=BOUND_S)
        assert task.cancelled()
    await assert_given_back_clean(one_connection)
