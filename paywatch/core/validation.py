"""Validators shared by the CLI and the API (one way to check each thing)."""

from __future__ import annotations

from solders.pubkey import Pubkey


def solana_address(value: str) -> str:
    """A base58 Solana public key, returned in canonical form; ValueError says what is wrong."""
    if not isinstance(value, str) or not 32 <= len(value) <= 44:
        raise ValueError("expected a base58 Solana public key (32 to 44 characters)")
    try:
        key = Pubkey.from_string(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid base58 Solana public key") from None
    if str(key) != value:
        raise ValueError(f"{value!r} is not in canonical base58 form")
    return value
