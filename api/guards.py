"""Checks every request gets before any handler runs, for input no handler could store.

PostgreSQL text cannot hold NUL, so a NUL that reaches a query is a server error; refusing it
here covers every route (and the ones added later) in one place."""

from __future__ import annotations

from aiohttp import web

from api.errors import ApiError, Handler


@web.middleware
async def input_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if "\x00" in request.path:
        # No object's id, number, slug or e-mail address contains NUL: there is nothing here.
        raise ApiError(404, "resource_missing", "no such object (the path contains NUL)")
    for key, value in request.query.items():
        if "\x00" in key or "\x00" in value:
            raise ApiError(422, "parameter_invalid", f"{key!r}: may not contain NUL characters",
                           param=key.replace("\x00", ""))
    return await handler(request)
