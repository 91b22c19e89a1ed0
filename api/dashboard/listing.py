"""Lists of the orders, inbox and refunds areas: a filter form's query read into the API's own
query model (a blank input is "not given"; an unknown or repeated parameter is the API's 422),
and links to the next and first pages that keep the filters. Keyset pages, as the API's: the
cursor names the last row shown, never an offset."""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel

from api.body import parse_query

Q = TypeVar("Q", bound=BaseModel)


def list_query(request: web.Request, model: type[Q]) -> Q:
    return parse_query(request, model, blank_is_missing=True)


def filters_of(query: BaseModel) -> dict[str, str]:
    """The validated filters (no cursor, no limit), as a template fills its form with them."""
    return {k: str(v) for k, v in query.model_dump(exclude={"cursor", "limit"}).items()
            if v is not None}


def page_link(request: web.Request, query: BaseModel, cursor: str | None) -> str:
    """This list with `query`'s filters, at `cursor` (None: the first page)."""
    params = filters_of(query)
    if cursor is not None:
        params["cursor"] = cursor
    return f"{request.path}?{urlencode(params)}" if params else request.path
