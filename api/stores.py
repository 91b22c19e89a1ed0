"""Stores: the operator's admin key creates and updates any store; a store's own key with the
`admin` scope reads and updates that store. Payment and confirmation policy live here."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import asyncpg
from aiohttp import web
from pydantic import ConfigDict, Field, field_validator, model_validator

from api.auth import Principal, principal
from api.body import parse_body, respond
from api.errors import ApiError
from api.idempotency import Work, run_once
from api.keys import CHAINS, DB_POOL
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
from db import stores
from paywatch.core.chains import ChainRegistry
from paywatch.core.evm import checksum, validate_xpub
from paywatch.core.pricing import CfvPolicy
from paywatch.services import stores as store_service
from paywatch.services.stores import EvmMatching, SlugTaken, StoreEdit, StoreGone

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


ChainName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class AssetIn(RequestModel):
    asset: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,12}$")]
    chain: ChainName = Field(default="solana",
                             description="`solana` or an EVM chain the operator configured")
    mint: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="SPL mint (none for SOL); on EVM chains taken from the "
        "chain's configuration")
    decimals: Annotated[int, Field(ge=0, le=36)] | None = Field(
        default=None, description="required for Solana assets; EVM chains know theirs")


class EvmChainIn(RequestModel):
    """How this store's payments on one EVM chain are matched."""

    mode: Literal["deposit_address", "shared_address"] = "deposit_address"
    xpub: Annotated[str, Field(max_length=120)] | None = Field(
        default=None, description="account-level extended public key (m/44'/60'/0'); each "
        "payment gets the next address xpub/0/n. Never an xprv.")
    address: Annotated[str, Field(max_length=42)] | None = Field(
        default=None, description="shared_address: the one address every payment goes to")

    @model_validator(mode="after")
    def _keys(self) -> EvmChainIn:
        try:
            if self.xpub is not None:
                validate_xpub(self.xpub)
            if self.address is not None:
                self.address = checksum(self.address)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        if self.mode == "deposit_address" and self.xpub is None:
            raise ValueError("deposit_address needs the account's xpub")
        if self.mode == "shared_address" and self.address is None:
            raise ValueError("shared_address needs the address")
        return self


# May be left out (unchanged, or the default) but never null: the columns are NOT NULL, and
# `null` meaning "unset" would be a second way to say "leave it out".
NOT_NULL = ("name", "default_currency", "commitment", "underpaid_tolerance_percent",
            "underpaid_tolerance_amount", "payment_lifetime_seconds", "monitoring_window_seconds",
            "confirmation_window_seconds", "accept_late_payments", "cfv_policy", "allow_framing",
            "assets", "evm")


def _document_not_null(schema: dict[str, Any]) -> None:
    """The published schema says what the validator does: these fields are never null."""
    for name in NOT_NULL:
        prop = schema.get("properties", {}).get(name)
        if prop is None:
            continue
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        if len(branches) == 1:
            prop.update(branches[0])
        elif branches:
            prop["anyOf"] = branches
        if prop.get("default", "") is None:
            del prop["default"]


class StoreFields(RequestModel):
    model_config = ConfigDict(json_schema_extra=_document_not_null)

    @field_validator(*NOT_NULL, mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out but not null")
        return value

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
    solana_unique_amount: bool | None = Field(
        default=None, description="make each Solana payment's amount unique among the store's "
        "open payments to the same wallet and asset, so a transfer without the reference (an "
        "exchange withdrawal, a hand-typed transfer) matches by its exact amount")
    assets: Annotated[list[AssetIn], Field(max_length=50)] | None = Field(
        default=None, description="accepted assets; replaces the list when given")
    evm: Annotated[dict[ChainName, EvmChainIn | None], Field(max_length=20)] | None = Field(
        default=None, description="per EVM chain: how payments are matched; null removes a "
        "chain's settings")


class StoreCreate(StoreFields):
    slug: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]


class AssetOut(ResponseModel):
    chain: str
    asset: str
    mint: str | None
    decimals: int


class EvmChainOut(ResponseModel):
    mode: str
    xpub: str | None
    address: str | None
    next_index: int


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
    solana_unique_amount: bool
    assets: list[AssetOut]
    evm: dict[str, EvmChainOut]
    created_at: Timestamp
    updated_at: Timestamp


class StoreList(ListResponse):
    data: list[Store]


async def store_out(conn: asyncpg.Connection, row: asyncpg.Record) -> Store:
    """The response model over the JSON the store's audit rows record too."""
    return Store.model_validate(await store_service.store_json(conn, row))


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


def _edit(chains: ChainRegistry, body: StoreFields,
          assets: list[AssetIn] | None) -> StoreEdit:
    """The body as a store edit, checked against the configured chains (EVM first, then the
    assets: the order the errors have always come in). `assets` replaces the list when given."""
    fields = body.model_dump(exclude_unset=True, exclude={"assets", "slug", "evm"})
    if "cfv_policy" in fields and body.cfv_policy is not None:
        fields["cfv_policy"] = body.cfv_policy.model_dump(mode="json")
    evm = {name: _evm_matching(chains, name, config) for name, config in (body.evm or {}).items()}
    added = [(a.chain, a.asset, *_resolve_asset(chains, a)) for a in assets or []]
    return StoreEdit(fields=fields, evm=evm, add_assets=added,
                     replace_assets=assets is not None)


def _resolve_asset(chains: ChainRegistry, a: AssetIn) -> tuple[str | None, int]:
    """(mint or contract, decimals) as the asset's chain accepts it."""
    return chains.require(a.chain, "assets").resolve_asset(a.asset, a.mint, a.decimals)


def _evm_matching(chains: ChainRegistry, name: str,
                  config: EvmChainIn | None) -> EvmMatching | None:
    # `evm` is the public API's field for EVM matching settings (xpub or shared address).
    if chains.require(name, "evm").family != "evm":
        raise ApiError(422, "chain_not_configured", f"{name} is not an EVM chain; "
                       "`evm` takes EVM chains only", param="evm")
    return None if config is None else EvmMatching(config.mode, config.xpub, config.address)


async def create_store(request: web.Request) -> web.Response:
    who = principal(request)
    _require_admin(who)
    if who.store_id is not None:
        raise ApiError(403, "operator_key_required", "only the operator's key creates stores",
                       type_="permission_error")
    body = await parse_body(request, StoreCreate)
    assets = body.assets
    if assets is None and body.solana_recipient:
        assets = [AssetIn(asset="SOL", decimals=9)]
    edit = _edit(request.app[CHAINS], body, assets or [])

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        try:
            row = await store_service.open_store(conn, body.slug, body.name, edit, who.actor)
        except SlugTaken:
            raise ApiError(409, "slug_taken", f"a store {body.slug!r} exists",
                           param="slug") from None
        except StoreGone:
            raise _gone() from None
        return 201, (await store_out(conn, row)).model_dump(mode="json")

    return await run_once(request, who, work)


def _gone() -> ApiError:
    # The store went away while this request ran: a 404, never a 500.
    return ApiError(404, "resource_missing", "no such store")


def store_update(chains: ChainRegistry, who: Principal, ref: str, body: StoreFields) -> Work:
    """The work that updates a store (the API's and the dashboard's): `admin`, the key's own
    store (another is a 404, before any 422), the body checked against the configured chains,
    and the change audited with the store before and after."""
    who.require("admin")

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        before = await _find(conn, who, ref)  # a 404 before any 422
        edit = _edit(chains, body, body.assets)
        try:
            row = await store_service.update_store(conn, before["id"], edit, who.actor)
        except StoreGone:
            raise _gone() from None
        except asyncpg.CheckViolationError as exc:
            # A combination the models let through and the table's rules refuse: bad input
            # (a 422 naming the rule), never a 500.
            raise ApiError(422, "parameter_invalid", "refused by the store's rules "
                           f"({exc.constraint_name})") from None
        return 200, (await store_out(conn, row)).model_dump(mode="json")

    return work


async def update_store(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("admin")
    body = await parse_body(request, StoreFields)
    return await run_once(request, who, store_update(request.app[CHAINS], who,
                                                     request.match_info["ref"], body))


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
