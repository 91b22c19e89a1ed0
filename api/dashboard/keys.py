"""API keys of the store: list them, create one (its secret shown once, on the answer page, never
stored or logged) and revoke one, through paywatch/services/keys.py as the CLI does.

No key acts beyond its own power: a key creates keys with its own scopes at most, and revokes
only keys of its store whose scopes it holds too (a read-only key cannot lock out the store's
admin key). Its own key it cannot revoke here: that is signing out for good, from the CLI."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from aiohttp import web
from pydantic import Field, ValidationError

from api.body import validation_error
from api.errors import ApiError
from api.keys import DB_POOL
from api.models.common import RequestModel
from api.payments import parse_id, store_of
from db import api_keys
from paywatch.core.apikeys import SCOPES
from paywatch.services import keys as key_service

from . import render
from .forms import act, see_other
from .session import Viewer, form_of, view

PATH = "/dashboard/keys"
NOTICES = {
    "revoked": "The key is revoked: its API calls and dashboard sessions stop now.",
    "created_before": "This form was already sent: the key exists (see the list), and its "
                      "secret was shown once, on the first answer. Revoke it and create "
                      "another if it was not kept.",
}


class KeyCreate(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: Annotated[list[str], Field(min_length=1, max_length=len(SCOPES))]


async def _list_page(request: web.Request, viewer: Viewer, status: int = 200,
                     **context: Any) -> web.Response:
    async with request.app[DB_POOL].acquire() as conn:
        # A store's keys are few (made by hand), so the list is one page.
        rows = await api_keys.list_keys(conn, store_of(viewer.who))
    context.setdefault("typed", {"name": "", "scopes": []})
    context.setdefault("created", None)
    context.setdefault("error", None)
    return render.html(request, "keys.html", status=status, viewer=viewer, notices=NOTICES,
                       keys=rows, grantable=key_service.grantable(viewer.who.scopes),
                       revocable=lambda k: _revocable(viewer, k), **context)


def _revocable(viewer: Viewer, key: asyncpg.Record) -> bool:
    own = set(key_service.grantable(viewer.who.scopes))
    return (key["revoked_at"] is None and key["id"] != viewer.who.key_id
            and set(key["scopes"]) <= own)


@view()
async def key_list(request: web.Request, viewer: Viewer) -> web.Response:
    return await _list_page(request, viewer)


def _check_grant(viewer: Viewer, scopes: list[str]) -> None:
    beyond = [s for s in scopes if s not in key_service.grantable(viewer.who.scopes)]
    if beyond:
        raise ApiError(403, "scope_not_grantable", "a key gives a new key its own scopes at "
                       f"most; this one lacks {', '.join(beyond)}", param="scopes",
                       type_="permission_error")


@view()
async def create(request: web.Request, viewer: Viewer) -> web.Response:
    form = await form_of(request)
    typed = {"name": form.get("name", "").strip(),
             "scopes": [v for v in (await request.post()).getall("scopes", [])
                        if isinstance(v, str)]}
    try:
        body = KeyCreate.model_validate(typed)
    except ValidationError as exc:
        return await _list_page(request, viewer, 422, typed=typed, error=validation_error(exc))
    _check_grant(viewer, body.scopes)      # forged beyond the form's choices: refused
    store_id = store_of(viewer.who)
    shown: list[str] = []

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        key, row = await key_service.create_key(conn, store_id, body.name, body.scopes,
                                                viewer.who.actor)
        shown.append(key)                  # never in the stored answer: shown this once
        return 201, {"id": str(row["id"]), "prefix": row["prefix"]}

    status, answer, _replayed = await act(request, viewer, work)
    if not shown:
        raise see_other(PATH, notice="created_before")
    created = {"secret": shown[0], "prefix": answer["prefix"], "name": body.name,
               "scopes": body.scopes}
    return await _list_page(request, viewer, status, created=created)


@view()
async def revoke(request: web.Request, viewer: Viewer) -> web.Response:
    key_id = parse_id(request.match_info["id"], "API key")
    store_id = store_of(viewer.who)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        target = await api_keys.store_key(conn, key_id, store_id)
        if target is None:
            raise ApiError(404, "resource_missing", f"no API key {key_id}")
        _check_revoke(viewer, target)
        revoked = await key_service.revoke_key(conn, str(key_id), viewer.who.actor, store_id)
        if revoked is None:
            raise ApiError(409, "key_revoked", "this key is already revoked")
        return 200, {"id": str(key_id)}

    await act(request, viewer, work)
    raise see_other(PATH, notice="revoked")


def _check_revoke(viewer: Viewer, target: asyncpg.Record) -> None:
    if target["id"] == viewer.who.key_id:
        raise ApiError(409, "own_key", "this is the key this session signed in with: sign in "
                       "with another key to revoke it (or `paywatch keys revoke`)")
    beyond = set(target["scopes"]) - set(key_service.grantable(viewer.who.scopes))
    if beyond:
        raise ApiError(403, "scope_not_grantable", "a key revokes only keys within its own "
                       f"scopes; that key also has {', '.join(sorted(beyond))}",
                       type_="permission_error")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, key_list)
    app.router.add_post(PATH, create)
    app.router.add_post(f"{PATH}/{{id}}/revoke", revoke)

