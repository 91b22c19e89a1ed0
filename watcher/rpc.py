"""JSON-RPC over HTTP to one or more nodes (Solana or EVM), for a watcher that must never stop.

- Endpoints in failover order, each behind a circuit breaker: after `trip_after` consecutive
  failures it is skipped for `cooldown` seconds, then tried again.
- Transient failures (timeouts, connection errors, HTTP errors, 429, -32005 node behind,
  -32603, bodies that are not JSON-RPC, results the caller's `parse` rejects) move to the next
  endpoint, with exponential backoff and
  jitter between rounds; definitive answers (-32602 bad params and the like) raise RpcError.
- One semaphore per endpoint bounds concurrency; every call is counted by method, endpoint and
  outcome, and timed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from paywatch.core.metrics import RPC_LATENCY, RPC_REQUESTS
from paywatch.core.redact import mask_url, redact_text

log = logging.getLogger("paywatch.watcher.rpc")

# Solana's "try again" codes; EVM nodes use -32005 (limit exceeded) and -32603 too.
TRANSIENT_CODES = frozenset({429, -32005, -32603, -32004, -32007, -32014, -32016})
T = TypeVar("T")
# Failed calls remembered for the health report's recent-error count (a storm caps here).
ERRORS_KEPT = 10_000
# The window that count covers: what chain_health.rpc_errors and the dashboard show.
ERROR_WINDOW_S = 300.0


class RpcError(Exception):
    """A definitive JSON-RPC error: asking another node would get the same answer."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class RpcUnavailable(Exception):
    """Every endpoint failed, in every round."""


class _Transient(Exception):
    pass


@dataclass
class Endpoint:
    url: str
    semaphore: asyncio.Semaphore
    failures: int = 0
    open_until: float = 0.0

    @property
    def label(self) -> str:
        # Logs, errors and /metrics (unauthenticated) name the endpoint without its key.
        return mask_url(self.url)


class RpcPool:
    def __init__(self, urls: list[str], session: aiohttp.ClientSession, *,
                 timeout_s: float = 10.0, concurrency: int = 16, rounds: int = 4,
                 trip_after: int = 3, cooldown_s: float = 15.0, backoff_s: float = 0.2,
                 clock: Callable[[], float] = time.monotonic,
                 transient_codes: frozenset[int] = TRANSIENT_CODES) -> None:
        if not urls:
            raise ValueError("at least one RPC URL is needed")
        self.endpoints = [Endpoint(u, asyncio.Semaphore(concurrency)) for u in urls]
        self.session, self.clock = session, clock
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.rounds, self.trip_after = rounds, trip_after
        self.cooldown_s, self.backoff_s = cooldown_s, backoff_s
        self._ids = 0
        self.transient_codes = transient_codes
        # When calls failed (this pool's clock), for the chain's health report; bounded.
        self._failures: deque[float] = deque(maxlen=ERRORS_KEPT)

    def _usable(self) -> list[Endpoint]:
        now = self.clock()
        closed = [e for e in self.endpoints if e.open_until <= now]
        return closed or sorted(self.endpoints, key=lambda e: e.open_until)[:1]

    async def ask_each(self, method: str, params: list[Any]) -> dict[str, Any]:
        """`method` asked of every endpoint, tripped or not (a check of what each one is, not a
        read of the chain): its label -> its result, or the exception that stood instead."""
        async def one(endpoint: Endpoint) -> Any:
            try:
                return await self._call_one(endpoint, method, params)
            except (_Transient, RpcError) as exc:
                return exc

        answers = await asyncio.gather(*(one(e) for e in self.endpoints))
        return {e.label: a for e, a in zip(self.endpoints, answers, strict=True)}

    def errors_within(self, seconds: float) -> int:
        """Requests that failed (any endpoint, any reason) in the last `seconds`."""
        since = self.clock() - seconds
        return sum(1 for at in self._failures if at >= since)

    async def call(self, method: str, params: list[Any],
                   parse: Callable[[Any], T] | None = None) -> Any:
        """The result (through `parse` when given: a result it rejects with ValueError, KeyError
        or TypeError is garbage from that node, and the next endpoint is asked)."""
        last = "no endpoint tried"
        for attempt in range(self.rounds):
            for endpoint in self._usable():
                try:
                    result = await self._call_one(endpoint, method, params)
                    if parse is not None:
                        result = _parsed(parse, result)
                except _Transient as exc:
                    last = f"{endpoint.label}: {exc}"
                    self._failed(endpoint, method, str(exc))
                    continue
                endpoint.failures = 0
                return result
            await asyncio.sleep(self.backoff_s * 2**attempt * random.uniform(0.5, 1.5))
        raise RpcUnavailable(f"{method} failed on every endpoint ({last})")

    def _failed(self, endpoint: Endpoint, method: str, why: str) -> None:
        endpoint.failures += 1
        if endpoint.failures >= self.trip_after:
            endpoint.open_until = self.clock() + self.cooldown_s
            log.warning("rpc endpoint tripped", extra={"endpoint": endpoint.label,
                                                       "method": method, "error": why})

    async def _call_one(self, endpoint: Endpoint, method: str, params: list[Any]) -> Any:
        self._ids += 1
        body = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}
        started = time.perf_counter()
        outcome = "error"
        try:
            async with endpoint.semaphore:
                answer = await self._post(endpoint, body)
            if "error" in answer:
                error = answer["error"] if isinstance(answer["error"], dict) else {}
                code = int(error.get("code", -32603))
                if code in self.transient_codes:
                    raise _Transient(f"rpc error {code}: {error.get('message')}")
                outcome = "rpc_error"
                raise RpcError(code, str(error.get("message")))
            if "result" not in answer:
                raise _Transient("answer has neither result nor error")
            outcome = "ok"
            return answer["result"]
        finally:
            if outcome != "ok":
                self._failures.append(self.clock())
            RPC_REQUESTS.labels(method, endpoint.label, outcome).inc()
            RPC_LATENCY.labels(method, endpoint.label).observe(time.perf_counter() - started)

    async def _post(self, endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
        try:
            async with self.session.post(endpoint.url, json=body, timeout=self.timeout) as resp:
                text = await resp.text()
                if resp.status != 200:
                    raise _Transient(f"HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError) as exc:
            # aiohttp quotes the full URL in some errors (redirects, invalid URL).
            raise _Transient(redact_text(f"{type(exc).__name__}: {exc}")) from None
        try:
            answer = json.loads(text)
        except ValueError:
            raise _Transient("body is not JSON") from None
        if not isinstance(answer, dict):
            raise _Transient("body is not a JSON-RPC object")
        return answer


def _parsed(parse: Callable[[Any], T], result: Any) -> T:
    try:
        return parse(result)
    except (ValueError, KeyError, TypeError) as exc:
        raise _Transient(f"unusable result: {exc}") from None
