"""Stores: the operator's admin key creates and updates any store; a store's own key with the
`admin` scope reads and updates that store. Payment and confirmation policy live here."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal

import asyncpg
from aiohttp import web
from pydantic import Field

from api.auth import Principal, principal
from api.body import parse_body, respond
from api.errors import ApiError
from api.idempotency import run_once
from api.keys import DB_POOL
from api.models.common import (
    Currency,
    FiatAmount,
    ListResponse,
    Money,
    Percent,
    RequestModel,
    ResponseModel,
    SolanaAddress,
    Timestamp,
)
from api.openapi import Operation
from db import audit, stores
from paywatch.pricing import CfvPolicy

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class AssetIn(RequestModel):
    asset: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,12}$")]
    chain: Literal["solana"] = "solana"
    mint: SolanaAddress | None = Field(default=None, description="SPL mint; none for SOL")
    decimals: Annotated[int, Field(ge=0, le=18)]


class StoreFields(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    default_currency: Currency | None = None
    solana_recipient: SolanaAddress | None = None
    commitment: Literal["confirmed", "finalized"] | None = None
    finalized_above: FiatAmount | None = Field(
        default=None, description="wait for `finalized` at or above this fiat amount")
    underpaid_tolerance_percent: Percent | None = None
    underpaid_tolerance_amount: FiatAmount | None = None
    payment_lifetime_seconds: Annotated[int, Field(ge=60, le=7 * 86400)] | None = None
    monitoring_window_seconds: Annotated[int, Field(ge=0, le=30 * 86400)] | None = None
    confirmation_window_seconds: Annotated[int, Field(ge=60, le=7 * 86400)] | None = None
    accept_late_payments: bool | None = None
    cfv_policy: CfvPolicy | None = None
    allow_framing: bool | None = None
    assets: Annotated[list[AssetIn], Field(max_length=50)] | None = Field(
        default=None, description="accepted assets; replaces the list when given")


class StoreCreate(StoreFields):
    slug: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]  # type: ignore[assignment]


class AssetOut(ResponseModel):
    chain: str
    asset: str
    mint: str | None
    decimals: int


class Store(ResponseModel):
    object: Literal["store"] = "store"
    id: str
    slug: str
    name: str
    default_currency: str
    solana_recipient: str | None
    commitment: str
    finalized_above: Money | None
    underpaid_tolerance_percent: Money
    underpaid_tolerance_amount: Money
    payment_lifetime_seconds: int
    monitoring_window_seconds: int
    confirmation_window_seconds: int
    accept_late_payments: bool
    cfv_policy: dict[str, Any]
    allow_framing: bool
    assets: list[AssetOut]
    created_at: Timestamp
    updated_at: Timestamp


class StoreList(ListResponse):
    data: list[Store]


def _seconds(value: timedelta) -> int:
    return int(value.total_seconds())


async def store_out(conn: asyncpg.Connection, row: asyncpg.Record) -> Store:
    assets = [AssetOut(chain=a["chain"], asset=a["asset"], mint=a["mint"],
                       decimals=a["decimals"])
              for a in await stores.store_assets(conn, row["id"]) if a["enabled"]]
    return Store(
        id=str(row["id"]), slug=row["slug"], name=row["name"],
        default_currency=row["default_currency"].strip(),
        solana_recipient=row["solana_recipient"], commitment=row["commitment"],
        finalized_above=row["finalized_above"],
        underpaid_tolerance_percent=row["underpaid_tolerance_percent"],
        underpaid_tolerance_amount=row["underpaid_tolerance_amount"],
        payment_lifetime_seconds=_seconds(row["payment_lifetime"]),
        monitoring_window_seconds=_seconds(row["monitoring_window"]),
        confirmation_window_seconds=_seconds(row["confirmation_window"]),
        accept_late_payments=row["accept_late_payments"], cfv_policy=row["cfv_policy"],
        allow_framing=row["allow_framing"], assets=assets, created_at=row["created_at"],
        updated_at=row["updated_at"])


def _require_admin(who: Principal, store_id: uuid.UUID | None = None) -> None:
    who.require("admin")
    if who.store_id is not None and store_id is not None and who.store_id != store_id:
        raise ApiError(404, "resource_missing", "no such store")


async def _find(conn: asyncpg.Connection, who: Principal, ref: str) -> asyncpg.Record:
    try:
        row = await stores.store_by_id(conn, uuid.UUID(ref))
    except ValueError:
        row = await stores.store_by_slug(conn, ref)
    if row is None or (who.store_id is not None and row["id"] != who.store_id):
        raise ApiError(404, "resource_missing", f"no store {ref!r}")
    return row


def _changes(body: StoreFields) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude={"assets", "slug"})
    if "cfv_policy" in changes and body.cfv_policy is not None:
        changes["cfv_policy"] = body.cfv_policy.model_dump(mode="json")
    return changes


async def _replace_assets(conn: asyncpg.Connection, store_id: uuid.UUID,
                          assets: list[AssetIn]) -> None:
    keep = {(a.chain, a.asset) for a in assets}
    for current in await stores.store_assets(conn, store_id):
        if (current["chain"], current["asset"]) not in keep:
            await stores.disable_store_asset(conn, store_id, current["chain"], current["asset"])
    for a in assets:
        if a.asset != "SOL" and a.mint is None:
            raise ApiError(422, "parameter_invalid", f"{a.asset} needs its SPL mint",
                           param="assets")
        await stores.upsert_store_asset(conn, store_id, a.chain, a.asset, a.mint, a.decimals)


async def create_store(request: web.Request) -> web.Response:
    who = principal(request)
    _require_admin(who)
    if who.store_id is not None:
        raise ApiError(403, "operator_key_required", "only the operator's key creates stores",
                       type_="permission_error")
    body = await parse_body(request, StoreCreate)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        try:
            row = await stores.insert_store(conn, body.slug, body.name, None)
        except asyncpg.UniqueViolationError:
            raise ApiError(409, "slug_taken", f"a store {body.slug!r} exists",
                           param="slug") from None
        row = await stores.update_store(conn, row["id"], _changes(body))
        assets = body.assets
        if assets is None and body.solana_recipient:
            assets = [AssetIn(asset="SOL", decimals=9)]
        await _replace_assets(conn, row["id"], assets or [])
        out = (await store_out(conn, row)).model_dump(mode="json")
        await audit.record(conn, store_id=row["id"], actor=who.actor, action="store.create",
                           object_type="store", object_id=row["id"], after=out)
        return 201, out

    return await run_once(request, who, work)


async def update_store(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("admin")
    body = await parse_body(request, StoreFields)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        before = await _find(conn, who, request.match_info["ref"])
        before_out = (await store_out(conn, before)).model_dump(mode="json")
        row = await stores.update_store(conn, before["id"], _changes(body))
        if body.assets is not None:
            await _replace_assets(conn, row["id"], body.assets)
        out = (await store_out(conn, row)).model_dump(mode="json")
        await audit.record(conn, store_id=row["id"], actor=who.actor, action="store.update",
                           object_type="store", object_id=row["id"], before=before_out,
                           after=out)
        return 200, out

    return await run_once(request, who, work)


async def get_store(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("admin")
    async with request.app[DB_POOL].acquire() as conn:
        return respond(await store_out(conn, await _find(conn, who, request.match_info["ref"])))


async def list_stores(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("admin")
    async with request.app[DB_POOL].acquire() as conn:
        rows = await stores.list_stores(conn)
        data = [await store_out(conn, r) for r in rows
                if who.store_id is None or r["id"] == who.store_id]
    return respond(StoreList(data=data, has_more=False, next_cursor=None))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/stores", list_stores)
    app.router.add_post("/v1/stores", create_store)
    app.router.add_get("/v1/stores/{ref}", get_store)
    app.router.add_post("/v1/stores/{ref}", update_store)



OPERATIONS = [
    Operation("GET", "/v1/stores", "List stores", StoreList, scope="admin"),
    Operation("POST", "/v1/stores", "Create a store (operator key)", Store, 201, "admin",
              request=StoreCreate, errors=(409,)),
    Operation("GET", "/v1/stores/{ref}", "Retrieve a store by id or slug", Store,
              scope="admin"),
    Operation("POST", "/v1/stores/{ref}", "Update a store", Store, scope="admin",
              request=StoreFields),
]
