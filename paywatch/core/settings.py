"""Settings: built once from the environment (PAYWATCH_*) and an optional .env, then passed
explicitly. Nothing imports a global settings object: the composition root hands it down."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from paywatch.core.endpoints import require_schemes
from paywatch.core.evm import EvmChain
from paywatch.core.redact import mask_url, redact_text
from paywatch.core.solanapay import SolanaChain

Commitment = Literal["processed", "confirmed", "finalized"]
LogFormat = Literal["json", "console"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
# One configuration shape for every chain: the family picks the model (and the adapter).
ChainConfig = Annotated[SolanaChain | EvmChain, Field(discriminator="family")]

# Fields whose values never appear in logs or in `config show`.
SECRET_FIELDS = frozenset({"database_url"})
# Every *_url / *_urls field is shown through mask_url: provider URLs carry keys in their
# userinfo, path or query, and a URL that carries none loses nothing a reader needs.
URL_SUFFIXES = ("_url", "_urls")


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _decimal_map(value: Any) -> Any:
    """`{"SOL": "150"}` (JSON text or a dict) -> {"SOL": Decimal("150")}; floats refused."""
    if isinstance(value, str):
        value = json.loads(value or "{}", parse_float=Decimal) if value.strip() else {}
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object of asset -> price, such as {\"SOL\": \"150\"}")
    out: dict[str, Decimal] = {}
    for asset, raw in value.items():
        try:
            price = Decimal(str(raw))
        except InvalidOperation as exc:
            raise ValueError(f"{asset}: {raw!r} is not a decimal number") from exc
        if not price.is_finite() or price <= 0:
            raise ValueError(f"{asset}: price must be a positive number, got {raw!r}")
        out[str(asset).upper()] = price
    return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAYWATCH_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # Database: external PostgreSQL when set, else embedded PostgreSQL in data_dir.
    database_url: SecretStr | None = None
    data_dir: Path = Path(".paywatch")
    db_pool_min_size: int = Field(default=1, ge=0, le=100)
    db_pool_max_size: int = Field(default=10, ge=1, le=200)

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    api_max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    api_rate_limit_per_minute: int = Field(default=600, ge=1)
    # The base URL customers and wallets reach (https://pay.example.com): makes checkout_url
    # and the other customer-facing links absolute. Unset: they are paths on this server.
    public_url: str | None = None
    # Behind a reverse proxy: the header it sets to the client's address (X-Real-IP, or
    # X-Forwarded-For whose last entry is used), for the per-client checkout stream limit.
    client_ip_header: str | None = None

    # The dashboard (/dashboard): a signed-in session ends after this long without a page view,
    # and in any case this long after sign-in. Sign-in attempts per client address per minute.
    dashboard_idle_seconds: int = Field(default=30 * 60, ge=60, le=7 * 24 * 3600)
    dashboard_session_seconds: int = Field(default=12 * 3600, ge=300, le=30 * 24 * 3600)
    dashboard_sign_ins_per_minute: int = Field(default=10, ge=1, le=10_000)

    log_level: LogLevel = "INFO"
    log_format: LogFormat = "console"

    solana_rpc_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8899"]
    )
    solana_ws_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["ws://127.0.0.1:8900"]
    )
    solana_commitment: Commitment = "confirmed"
    solana_genesis_hash: str | None = None
    # Run the Solana watcher inside `paywatch run` (off: an API-only process).
    solana_watch: bool = True

    # EVM chains (opt-in): a JSON list of chain objects, see README "EVM chains".
    evm_chains: Annotated[list[EvmChain], NoDecode] = Field(default_factory=list)
    # Run the EVM watchers (one per configured chain) inside `paywatch run`.
    evm_watch: bool = True

    # Every chain, one shape: a JSON list of {"family": "solana" | "evm", "name": ...}. The
    # variables above keep working: all_chains() folds them in.
    chains: Annotated[list[ChainConfig], NoDecode] = Field(default_factory=list)

    # Scheduled jobs (every process runs them; they are safe in parallel).
    expiry_sweep_seconds: float = Field(default=10.0, gt=0, le=3600)
    # Each tick is two small queries when nothing is due: cheap enough to keep webhooks quick.
    webhook_dispatch_seconds: float = Field(default=0.25, gt=0, le=3600)
    # Delivered (or failed) events older than this are deleted; the audit log is kept.
    event_retention_days: int = Field(default=90, ge=1, le=3650)

    # Webhooks: refuse endpoints on private, loopback or link-local addresses unless allowed.
    webhook_allow_private: bool = False
    # How long a claimed delivery stays claimed: after a crash, undelivered webhooks wait this
    # long before another process sends them again.
    webhook_lease_seconds: float = Field(default=120.0, ge=1, le=3600)

    # Pricing (issue 3): static tables, HTTP sources, cache and staleness.
    price_sources: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["static"])
    static_prices: Annotated[dict[str, Decimal], NoDecode] = Field(
        default_factory=lambda: {"SOL": Decimal("150"), "USDC": Decimal("1")}
    )
    static_fair_values: Annotated[dict[str, Decimal], NoDecode] = Field(default_factory=dict)
    coingecko_url: str = "https://api.coingecko.com/api/v3/simple/price"
    kraken_url: str = "https://api.kraken.com/0/public/Ticker"
    price_cache_ttl_seconds: int = Field(default=30, ge=1, le=3600)
    price_max_age_seconds: int = Field(default=120, ge=1, le=86400)
    cfv_source: Literal["none", "static", "formula", "http"] = "static"
    cfv_url: str | None = None
    # {"SOL": {"community": "...", "annual_tx_value": "...", "annual_tx_count": "...",
    #          "developers": "...", "circulating_supply": "..."}}
    cfv_formula_metrics: Annotated[dict[str, dict[str, Decimal]], NoDecode] = Field(
        default_factory=dict
    )

    @field_validator("solana_rpc_urls", "solana_ws_urls", "price_sources", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("solana_rpc_urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        return _require_schemes(urls, ("http://", "https://"))

    @field_validator("solana_ws_urls")
    @classmethod
    def _ws_urls(cls, urls: list[str]) -> list[str]:
        return _require_schemes(urls, ("ws://", "wss://"))

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str | None) -> str | None:
        return _base_url(url) if url else None

    @field_validator("price_sources")
    @classmethod
    def _sources(cls, sources: list[str]) -> list[str]:
        known = {"static", "coingecko", "kraken"}
        bad = [s for s in sources if s not in known]
        if bad or not sources:
            raise ValueError(f"expected a comma-separated list of {sorted(known)}, got {sources}")
        return sources

    @field_validator("static_prices", "static_fair_values", mode="before")
    @classmethod
    def _prices(cls, value: Any) -> Any:
        return _decimal_map(value)

    @field_validator("cfv_formula_metrics", mode="before")
    @classmethod
    def _metrics(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value or "{}", parse_float=Decimal) if value.strip() else {}
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object of asset -> {metric: number}")
        return {str(k).upper(): v for k, v in value.items()}

    @field_validator("evm_chains", "chains", mode="before")
    @classmethod
    def _evm_chains(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else []
        if not isinstance(value, list):
            raise ValueError("expected a JSON list of chains: [{\"name\": ..., \"chain_id\": ...}]")
        return value

    @field_validator("evm_chains")
    @classmethod
    def _unique_chains(cls, chains: list[EvmChain]) -> list[EvmChain]:
        names = [c.name for c in chains]
        if len(set(names)) != len(names):
            raise ValueError(f"chain names must be unique, got {names}")
        return chains

    @model_validator(mode="after")
    def _unique_chain_names(self) -> Settings:
        names = [c.name for c in self.all_chains()]
        if len(set(names)) != len(names):
            raise ValueError(f"chain names must be unique, got {names}")
        return self

    def all_chains(self) -> list[SolanaChain | EvmChain]:
        """Every chain in one list: `chains` as given, with PAYWATCH_SOLANA_* folded in as the
        Solana entry (unless the list has one) and PAYWATCH_EVM_CHAINS after it. Computed on
        each call, so a copy with other values (model_copy skips validators) stays true."""
        chains: list[SolanaChain | EvmChain] = list(self.chains)
        if not any(c.family == "solana" for c in chains):
            chains.insert(0, SolanaChain(rpc_urls=self.solana_rpc_urls,
                                         ws_urls=self.solana_ws_urls,
                                         commitment=self.solana_commitment,
                                         watch=self.solana_watch,
                                         genesis_hash=self.solana_genesis_hash))
        return chains + [c.model_copy(update={"watch": c.watch and self.evm_watch})
                         for c in self.evm_chains]

    def evm_chain(self, name: str) -> EvmChain | None:
        return next((c for c in self.all_chains()
                     if isinstance(c, EvmChain) and c.name == name), None)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    def public_view(self) -> dict[str, Any]:
        """The effective configuration with secrets masked, for `config show` and logs."""
        view: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name.endswith(URL_SUFFIXES) and value is not None:
                raw = value.get_secret_value() if isinstance(value, SecretStr) else value
                value = _masked_urls(raw)
            view[f"PAYWATCH_{name.upper()}"] = _jsonable(value)
        view["PAYWATCH_CHAINS"] = _jsonable(self.all_chains())  # with the folded entries
        return view


def _require_schemes(urls: list[str], schemes: tuple[str, ...]) -> list[str]:
    if not urls:
        raise ValueError("expected at least one URL")
    return require_schemes(urls, schemes)


def _base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL such as https://pay.example.com")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError("expected a base URL without a query or fragment")
    if parts.username is not None or parts.password is not None:
        raise ValueError("expected a public URL without user or password")
    return url.strip().rstrip("/")


def _masked_urls(value: str | list[str]) -> str | list[str]:
    return mask_url(value) if isinstance(value, str) else [mask_url(u) for u in value]


def _jsonable(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "********"
    if isinstance(value, BaseModel):  # a chain: its node URLs may carry keys
        view = value.model_dump(mode="json")
        for key in ("rpc_urls", "ws_urls"):
            view[key] = _masked_urls(view[key])
        return view
    if isinstance(value, Decimal | Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


class SettingsError(Exception):
    """Raised with one human line per bad variable."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_settings(**overrides: Any) -> Settings:
    """Read the environment once; turn pydantic's errors into one line per bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            given = err.get("input")
            shown = "" if field in SECRET_FIELDS or isinstance(given, dict) else f" (got {given!r})"
            msg = err["msg"].removeprefix("Value error, ")
            # A refused URL is named by mask_url: the operator sees which, not its key.
            lines.append(redact_text(f"PAYWATCH_{field.upper()}: {msg}{shown}"))
        raise SettingsError(lines) from None
