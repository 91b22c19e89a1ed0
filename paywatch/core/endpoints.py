"""A chain's RPC and WebSocket URL lists, checked the same way wherever they are configured
(the flat PAYWATCH_SOLANA_* settings and every entry of the chains list)."""

from __future__ import annotations

from pydantic import BaseModel, field_validator

HTTP = ("http://", "https://")
WS = ("ws://", "wss://")


def require_schemes(urls: list[str], schemes: tuple[str, ...]) -> list[str]:
    for url in urls:
        if not url.startswith(schemes):
            # The settings error path masks the URL (paywatch/core/redact.py) before printing.
            raise ValueError(f"expected URLs starting with {' or '.join(schemes)}, got {url!r}")
    return urls


class ChainEndpoints(BaseModel):
    """Base of a chain's configuration: subclasses declare `rpc_urls` and `ws_urls` (with their
    own defaults), this checks their schemes."""

    @field_validator("rpc_urls", check_fields=False)
    @classmethod
    def _http(cls, urls: list[str]) -> list[str]:
        return require_schemes(urls, HTTP)

    @field_validator("ws_urls", check_fields=False)
    @classmethod
    def _ws(cls, urls: list[str]) -> list[str]:
        return require_schemes(urls, WS)
