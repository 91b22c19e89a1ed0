"""Structured logging: JSON lines in production, readable lines on a terminal.

Call sites pass fields with `extra={...}`; both formats print every field. Secrets never reach
a log call (call sites mask URLs with paywatch.core.redact), and both formatters pass the message,
every string field and any traceback through `redact_text` as well, so a URL or API key that
a library quotes in an exception is masked too.

Levels: PAYWATCH_LOG_LEVEL sets our loggers (paywatch.*, simnet.*). Every other logger
(APScheduler, httpx/httpcore from solana-py, asyncio, aiohttp, pgserver...) stays at WARNING,
or at our level when that is stricter: DEBUG is for debugging paywatch, and lifting theirs
would bring back a line per scheduler tick and per RPC request. Job runs are metrics
(paywatch_job_runs_total), not log lines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from paywatch.core.metrics import HTTP_MALFORMED
from paywatch.core.redact import redact_text

# Attributes every LogRecord has; anything else on a record is a structured field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


# Our loggers, which PAYWATCH_LOG_LEVEL governs; everything else is a third party.
OURS = ("paywatch", "simnet")
THIRD_PARTY_LEVEL = logging.WARNING
# Third parties that are chatty at INFO/DEBUG, pinned explicitly in case a library sets its
# own level. APScheduler's scheduler only warns about skipped or missed runs, which our jobs
# expect (max_instances=1, coalesce) and count as metrics: it is kept to errors.
_PINNED = ("asyncio", "aiohttp", "httpx", "httpcore", "solana", "pgserver", "websockets",
           "apscheduler")
_APSCHEDULER_SCHEDULER = "apscheduler.scheduler"
# aiohttp's server logger: turned into our own line for requests it could not parse.
_AIOHTTP_SERVER = "aiohttp.server"
_http_log = logging.getLogger("paywatch.api.http")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: _clean(v) for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{ts} {record.levelname:<7} {record.name}: {redact_text(record.getMessage())}"
        if extras:
            line = f"{line}  {extras}"
        if record.exc_info:
            line = f"{line}\n{redact_text(self.formatException(record.exc_info))}"
        return line


class MalformedRequests(logging.Filter):
    """On aiohttp's server logger. A request aiohttp cannot parse (a port scan, TLS on the
    HTTP port, a key followed by a stray \\r) was logged as an ERROR with a traceback quoting
    the raw request, credentials included. It is the client's problem, already answered 400:
    count it, and write one line of ours at DEBUG with the error's class name only. Every
    other record passes at `threshold`, the level third-party loggers get."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if _is_malformed_http(exc):
            HTTP_MALFORMED.labels(type(exc).__name__).inc()
            _http_log.debug("refused a malformed request", extra={
                "error": type(exc).__name__, "status": getattr(exc, "code", None),
                "remote": str(record.args[0]) if isinstance(record.args, tuple) and record.args
                else None})
            return False
        return record.levelno >= self.threshold


def _is_malformed_http(exc: BaseException | None) -> bool:
    """aiohttp's parse error, without importing aiohttp (a quarter second) into every command:
    a process that never loaded aiohttp's server cannot have met one."""
    errors = sys.modules.get("aiohttp.http_exceptions")
    return errors is not None and isinstance(exc, errors.HttpProcessingError)


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    ours = logging.getLevelNamesMapping()[level.upper()]
    theirs = max(THIRD_PARTY_LEVEL, ours)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(theirs)
    for name in OURS:
        logging.getLogger(name).setLevel(ours)
    for name in _PINNED:
        logging.getLogger(name).setLevel(theirs)
    logging.getLogger(_APSCHEDULER_SCHEDULER).setLevel(max(logging.ERROR, theirs))
    # aiohttp.server logs malformed requests at DEBUG or ERROR: let the filter see both, and
    # apply the third-party level to everything else it logs.
    server = logging.getLogger(_AIOHTTP_SERVER)
    server.setLevel(logging.DEBUG)
    server.filters[:] = [f for f in server.filters if not isinstance(f, MalformedRequests)]
    server.addFilter(MalformedRequests(theirs))
