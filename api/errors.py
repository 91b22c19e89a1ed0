"""Errors as `{"error": {"type", "code", "message", "param"}}` with the right status, never a
traceback. Handlers raise ApiError; the middleware renders it and anything unexpected."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from db.pool import UNAVAILABLE_ERRORS
from paywatch.core.chains import ChainInputError

log = logging.getLogger("paywatch.api")

# Seconds a client should wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER_S = 5

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# HTTP status -> error type, for errors aiohttp raises itself (unknown route, wrong method...).
_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found", 405: "invalid_request_error", 409: "conflict", 413: "invalid_request_error",
    415: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 type_: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.type = type_ or _TYPES.get(status, "api_error")
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = {"error": {"type": self.type, "code": self.code, "message": self.message,
                          "param": self.param}}
        return web.json_response(body, status=self.status, headers=self.headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except ChainInputError as exc:  # a chain adapter's refusal: the same error body
        return ApiError(exc.status, exc.code, exc.message, exc.param, exc.type).response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        # Keep what the client needs (Allow on a 405, Retry-After...), not the body's headers.
        headers = {k: v for k, v in exc.headers.items()
                   if k.lower() not in ("content-type", "content-length")}
        return ApiError(exc.status, code, exc.reason, headers=headers).response()
    except UNAVAILABLE_ERRORS as exc:
        return database_unavailable(request, exc).response()
    except Exception:
        log.exception("unhandled error", extra={"method": request.method, "path": request.path})
        return ApiError(500, "internal_error", "internal error; see the server log",
                        type_="api_error").response()


def database_unavailable(request: web.Request, exc: BaseException) -> ApiError:
    """An outage, not a bug: a 503 with Retry-After, and one log line without a traceback (the
    message may name hosts)."""
    log.warning("database unavailable", extra={"method": request.method, "path": request.path,
                                               "error": type(exc).__name__})
    return ApiError(503, "database_unavailable", "the database is unavailable; retry later",
                    headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})
