"""Store settings: the payment policy, the accepted assets and the EVM chains. Every key of the
store reads them; a key with `admin` (what the API asks to update a store) edits them, through
the API's own update (api/stores.py store_update: the same checks, the same audit row)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from api import stores as api
from api.body import validation_error
from api.errors import ApiError
from api.keys import CHAINS, DB_POOL
from db import stores
from paywatch.core.chains import ChainInputError
from paywatch.core.pricing import CfvPolicy

from . import render
from .forms import act, see_other
from .session import Viewer, form_of, view

PATH = "/dashboard/settings"
NOTICES = {"saved": "The settings are saved; new payments follow them."}

# Policy fields as the form carries them (text as typed); the API's model validates them.
TEXT_FIELDS = ("name", "default_currency", "solana_recipient", "finalized_above",
               "underpaid_tolerance_percent", "underpaid_tolerance_amount",
               "payment_lifetime_seconds", "monitoring_window_seconds",
               "confirmation_window_seconds")
SECONDS_FIELDS = ("payment_lifetime_seconds", "monitoring_window_seconds",
                  "confirmation_window_seconds")
YES_NO_FIELDS = ("accept_late_payments", "solana_unique_amount", "allow_framing")
EVM_MODES = ("deposit_address", "shared_address")


def _evm_chains(request: web.Request) -> list[str]:
    return [c.name for c in request.app[CHAINS] if c.family == "evm"]


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def form_values(store: api.Store, evm_chains: list[str]) -> dict[str, str]:
    """The store as the form's fields (what the edit form starts from)."""
    data = store.model_dump(mode="json")
    typed = {name: "" if data[name] is None else str(data[name]) for name in TEXT_FIELDS}
    typed.update({name: _yes_no(data[name]) for name in YES_NO_FIELDS})
    typed["commitment"] = data["commitment"]
    cfv = cfv_policy(store)
    typed.update(cfv_enabled=_yes_no(cfv["enabled"]),
                 cfv_threshold_percent=str(cfv["threshold_percent"]),
                 cfv_cap_percent=str(cfv["cap_percent"]))
    typed["assets"] = "\n".join(_asset_line(a) for a in data["assets"])
    for chain in evm_chains:
        config = data["evm"].get(chain) or {}
        typed[f"evm_{chain}_mode"] = config.get("mode", "none")
        typed[f"evm_{chain}_xpub"] = config.get("xpub") or ""
        typed[f"evm_{chain}_address"] = config.get("address") or ""
    return typed


def cfv_policy(store: api.Store) -> dict[str, Any]:
    """The store's CFV policy in full (the stored one leaves out what is the default)."""
    return CfvPolicy.model_validate(store.cfv_policy).model_dump(mode="json")


def _asset_line(asset: dict[str, Any]) -> str:
    if asset["chain"] != "solana":        # an EVM chain knows its tokens' contracts
        return f"{asset['chain']} {asset['asset']}"
    mint = f" {asset['mint']}" if asset["mint"] else ""
    return f"solana {asset['asset']}{mint} {asset['decimals']}"


def parse_assets(text: str) -> list[dict[str, Any]]:
    """One asset a line: `CHAIN SYMBOL [MINT] [DECIMALS]` (the API's `assets` items)."""
    assets = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if len(words) < 2 or len(words) > 4:
            raise ApiError(422, "parameter_invalid", f"assets, line {number}: write CHAIN "
                           "SYMBOL [MINT] [DECIMALS], e.g. `solana USDC <mint> 6`",
                           param="assets")
        item: dict[str, Any] = {"chain": words[0], "asset": words[1]}
        for word in words[2:]:
            name = "decimals" if word.isdigit() and len(word) < 4 else "mint"
            if name in item:
                raise ApiError(422, "parameter_invalid", f"assets, line {number}: one mint "
                               "and one number of decimals at most", param="assets")
            item[name] = int(word) if name == "decimals" else word
        assets.append(item)
    return assets


def _body(typed: dict[str, str], current: api.Store, evm_chains: list[str]) -> api.StoreFields:
    data: dict[str, Any] = {name: typed[name] for name in TEXT_FIELDS if typed[name]}
    for name in SECONDS_FIELDS:           # the API's model takes integers, not text
        if data.get(name, "").isdigit() and len(data[name]) < 10:
            data[name] = int(data[name])
    if not typed["finalized_above"] and current.finalized_above is not None:
        data["finalized_above"] = None     # emptied: no amount needs `finalized` any more
    data.update({name: typed[name] == "yes" for name in YES_NO_FIELDS})
    data["commitment"] = typed["commitment"]
    data["cfv_policy"] = {**cfv_policy(current), "enabled": typed["cfv_enabled"] == "yes",
                          "threshold_percent": typed["cfv_threshold_percent"],
                          "cap_percent": typed["cfv_cap_percent"]}
    data["assets"] = parse_assets(typed["assets"])
    evm: dict[str, Any] = {}
    for chain in evm_chains:
        mode = typed[f"evm_{chain}_mode"]
        if mode in EVM_MODES:
            evm[chain] = {"mode": mode,
                          **{k: typed[f"evm_{chain}_{k}"] for k in ("xpub", "address")
                             if typed[f"evm_{chain}_{k}"]}}
        elif chain in current.evm:         # "none" for a chain that had settings: remove them
            evm[chain] = None
    data["evm"] = evm
    try:
        return api.StoreFields.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


async def _current(request: web.Request, viewer: Viewer) -> api.Store:
    async with request.app[DB_POOL].acquire() as conn:
        row = await stores.store_by_id(conn, viewer.who.store_id)
        if row is None:
            raise ApiError(404, "resource_missing", "no such store")
        return await api.store_out(conn, row)


def _page(request: web.Request, viewer: Viewer, store: api.Store, typed: dict[str, str],
          error: ApiError | None = None) -> web.Response:
    return render.html(request, "settings.html", status=error.status if error else 200,
                       viewer=viewer, notices=NOTICES, store=store, typed=typed, error=error,
                       cfv=cfv_policy(store),
                       evm_chains=_evm_chains(request), evm_modes=EVM_MODES,
                       editable=viewer.can("admin"))


@view()
async def settings_page(request: web.Request, viewer: Viewer) -> web.Response:
    store = await _current(request, viewer)
    return _page(request, viewer, store, form_values(store, _evm_chains(request)))


@view("admin")
async def save(request: web.Request, viewer: Viewer) -> web.Response:
    store = await _current(request, viewer)
    chains = _evm_chains(request)
    fields = (*TEXT_FIELDS, *YES_NO_FIELDS, "commitment", "cfv_enabled",
              "cfv_threshold_percent", "cfv_cap_percent", "assets",
              *(f"evm_{c}_{k}" for c in chains for k in ("mode", "xpub", "address")))
    form = await form_of(request)
    typed = {name: form.get(name, "").strip() for name in fields}
    try:
        body = _body(typed, store, chains)
        work = api.store_update(request.app[CHAINS], viewer.who, str(store.id), body)
        await act(request, viewer, work)
    except ChainInputError as exc:
        return _page(request, viewer, store, typed,
                     ApiError(exc.status, exc.code, exc.message, exc.param))
    except ApiError as exc:
        if exc.status != 422:
            raise
        return _page(request, viewer, store, typed, exc)
    raise see_other(PATH, notice="saved")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, settings_page)
    app.router.add_post(PATH, save)
