"""API keys: `pw_live_` + 43 base62 characters (~256 bits). Shown once; only SHA-256 is kept.

A fast hash is right here: the key is random and long, so there is nothing to brute-force that a
slow hash would protect, and auth stays one indexed lookup per request."""

from __future__ import annotations

import hashlib
import secrets
import string

KEY_PREFIX = "pw_live_"
SCOPES = (
    "payments:read", "payments:write", "orders:read", "orders:write",
    "webhooks:read", "webhooks:write", "admin",
)
DEFAULT_SCOPES = ("payments:read", "payments:write", "orders:read", "orders:write",
                  "webhooks:read", "webhooks:write")
_ALPHABET = string.ascii_letters + string.digits
_BODY_LEN = 43


def generate_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LEN))


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def display_prefix(key: str) -> str:
    """Enough to tell keys apart in a list, far too little to use."""
    return key[: len(KEY_PREFIX) + 6]


def looks_like_key(value: str) -> bool:
    body = value[len(KEY_PREFIX):]
    return (value.startswith(KEY_PREFIX) and len(body) == _BODY_LEN
            and all(c in _ALPHABET for c in body))


def parse_scopes(values: list[str]) -> list[str]:
    """Comma- or space-separated scopes, validated; raises ValueError naming the bad one."""
    scopes: list[str] = []
    for value in values:
        for scope in value.replace(",", " ").split():
            if scope not in SCOPES:
                raise ValueError(f"unknown scope {scope!r}; expected some of {', '.join(SCOPES)}")
            if scope not in scopes:
                scopes.append(scope)
    return scopes
