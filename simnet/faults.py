"""Faults on demand, as real providers produce them: rate limits, a node behind, timeouts,
malformed bodies. Tests queue them through the Python API (SimnetServer.faults / .control)
or, from another process, POST /_simnet/control on the RPC port."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

KINDS = ("http_429", "node_behind", "timeout", "malformed")


@dataclass
class Faults:
    pending: deque[str] = field(default_factory=deque)
    timeout_s: float = 30.0

    def fail_next(self, count: int, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(KINDS)}")
        self.pending.extend([kind] * count)

    def take(self) -> str | None:
        return self.pending.popleft() if self.pending else None

    def clear(self) -> None:
        self.pending.clear()
