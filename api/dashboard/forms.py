"""Dashboard forms into the API's own request models, and actions run the API's way.

An action is the same `Work` the API route runs (the same services, the same refusals, the
same audit rows naming the key): `act` runs it under the form's id as the idempotency key, so
a double submit (two clicks, a resubmitted POST after a reload) acts once and the second gets
the first's answer."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ValidationError

from api.body import validation_error
from api.errors import ApiError
from api.idempotency import Work, run_keyed

from .session import Viewer, form_of

M = TypeVar("M", bound=BaseModel)

# Fields every dashboard form carries that no request model knows.
FORM_FIELDS = frozenset({"csrf", "form_id", "next"})
MAX_FORM_ID = 64


async def form_model(request: web.Request, model: type[M],
                     drop_empty: bool = True) -> M:
    """The posted form as `model` (blank inputs are "not given"); a refusal is the API's 422."""
    form = await form_of(request)
    data = {k: v for k, v in form.items()
            if k not in FORM_FIELDS and not (drop_empty and v.strip() == "")}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


async def act(request: web.Request, viewer: Viewer, work: Work) -> tuple[int, Any, bool]:
    """Run the action once per rendered form: (status, body, replayed)."""
    form_id = (await form_of(request)).get("form_id", "")
    if not (0 < len(form_id) <= MAX_FORM_ID and form_id.isascii() and form_id.isprintable()):
        raise ApiError(400, "form_id_missing", "this form lacks its id: reload the page")
    return await run_keyed(request, viewer.who, f"dashboard:{form_id}", work)


def see_other(location: str, **query: str) -> web.HTTPSeeOther:
    """Post/redirect/get: the answer to a done action (`notice` names a fixed message)."""
    return web.HTTPSeeOther(f"{location}?{urlencode(query)}" if query else location)
