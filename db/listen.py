"""One LISTEN-and-reload loop, for everything that keeps an in-memory copy of database rows
current from notifications (the Solana reference index, the checkout hub).

A notification says "this changed"; it is not a log: one sent while nobody listened (a dropped
connection, a database restart) is gone. So the loop re-reads everything whenever it (re)starts
listening and every `every_s`, and applies single notifications in between.

The connection comes from the pool and always goes back to it, however the loop ends (stopped,
cancelled while waiting or mid-query, connection dropped): `Pool.release` runs in `finally`, is
shielded against cancellation by asyncpg, and resets the connection (UNLISTEN *). The
callbacks are removed first, by hand: a reset keeps a termination callback, and one left behind
outlives its loop on a connection someone else now uses. A pool close then never waits
on a connection this loop forgot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from db.pool import DATABASE_ERRORS

log = logging.getLogger("paywatch.db.listen")

PAYMENTS_CHANNEL = "paywatch_payments"  # migration 0002: every new payment and status change
API_KEYS_CHANNEL = "paywatch_api_keys"  # migration 0012: a key changed (its id), or '*': all
EVENTS_CHANNEL = "paywatch_events"  # db/events.py: new outbox rows (webhook dispatchers wake)
STORES_CHANNEL = "paywatch_stores"  # migration 0013: a store's watched accounts may have changed

Work = Callable[[asyncpg.Connection], Awaitable[None]]


def _never() -> bool:
    return False


def _nothing() -> None:
    return None


async def listen_and_reload(
        pool: asyncpg.Pool, channel: str, *, name: str, reload: Work, every_s: float,
        on_notify: Callable[[str], bool], changed: Work | None = None,
        done: Callable[[], bool] = _never, retry_s: float = 1.0,
        lost: Callable[[], None] | None = None) -> None:
    """Run until cancelled or until `done()` is true.

    - `reload(conn)`: re-read everything; runs at each (re)connect and every `every_s`.
    - `on_notify(payload)`: called for each notification (no I/O: it runs in asyncpg's
      callback); returns whether there is work for `changed`.
    - `changed(conn)`: apply what the notifications since its last run announced (default:
      `reload`); runs on the listening connection, so the loop never holds a second one.
    - `lost()`: the notifications stopped (the connection dropped, the session failed or the
      loop ends), called at once from the connection's termination callback and again when
      the session ends; a copy that must never be stale stops trusting itself until the next
      `reload`.
    """
    while not done():
        try:
            await _session(pool, channel, reload=reload, changed=changed or reload,
                           every_s=every_s, on_notify=on_notify, done=done, lost=lost or _nothing)
            continue  # the connection dropped without an error (or done): listen again at once
        except DATABASE_ERRORS as exc:
            log.warning("%s: notifications interrupted; reconnecting", name,
                        extra={"error": str(exc)})
        except Exception:
            # A bug or an answer nobody foresaw: the copy keeps its last state meanwhile and the
            # next session re-reads everything. Never die silently, never spin.
            log.exception("%s: notifications failed; retrying", name)
        await asyncio.sleep(retry_s)


async def _session(pool: asyncpg.Pool, channel: str, *, reload: Work, changed: Work,
                   every_s: float, on_notify: Callable[[str], bool],
                   done: Callable[[], bool], lost: Callable[[], None]) -> None:
    """One connection's lifetime: returns when it drops or `done()`; raises what broke it."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()  # set by a notification that brought work, or by the connection dropping

    def notified(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if on_notify(payload):
            wake.set()

    def terminated(_conn: Any) -> None:
        lost()
        wake.set()

    conn: asyncpg.Connection = await pool.acquire()
    try:
        conn.add_termination_listener(terminated)
        await conn.add_listener(channel, notified)
        await reload(conn)  # whatever changed while nobody was listening
        due = loop.time() + every_s
        while not done() and not conn.is_closed():
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for drops a cancel that meets
            # the wake-up, and the loop outlived its owner (tests/test_listen.py).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, due - loop.time())):
                    await wake.wait()
            if done() or conn.is_closed():
                return
            # Cleared before the work, so a notification that arrives during it wakes the next
            # round instead of being lost.
            wake.clear()
            if loop.time() >= due:  # a steady stream of notifications must not starve this
                await reload(conn)
                due = loop.time() + every_s
            else:
                await changed(conn)
    finally:
        lost()  # before any await: nothing may trust the copy once this session is over
        conn.remove_termination_listener(terminated)
        try:
            if not conn.is_closed():
                # Drops the callback at once, then UNLISTENs; a failure here must not hide why
                # the session ended (least of all a cancellation), and the release's reset
                # UNLISTENs anyway.
                with contextlib.suppress(Exception):
                    await conn.remove_listener(channel, notified)
        finally:
            await pool.release(conn)
