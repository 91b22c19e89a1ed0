"""One call in flight per key; concurrent callers share its result."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class SingleFlight(Generic[V]):
    """Shares one task per key among everyone asking at the same time. The task is shielded:
    one caller being cancelled (its HTTP client went away) does not cancel the others' fetch.
    Factories should return failures as values rather than raise: a task nobody awaits any
    more would otherwise log "exception never retrieved"."""

    def __init__(self) -> None:
        self._tasks: dict[Hashable, asyncio.Task[V]] = {}

    async def run(self, key: Hashable, factory: Callable[[], Coroutine[Any, Any, V]]) -> V:
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.create_task(factory())
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def _forget(self, key: Hashable, done: asyncio.Task[V]) -> None:
        if self._tasks.get(key) is done:
            del self._tasks[key]
