"""The chain registry: the composition root's one list of chain adapters, built from the
settings' `chains` list. Adding a chain family is one package (its adapter and watcher) plus
one line in FAMILIES."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paywatch.core.chains import ChainAdapter, ChainRegistry
from paywatch.core.settings import Settings
from watcher.evm.adapter import EvmAdapter
from watcher.solana.adapter import SolanaAdapter

# family -> adapter built from that family's configuration entry.
FAMILIES: dict[str, Callable[[Any], ChainAdapter]] = {
    "solana": SolanaAdapter,
    "evm": EvmAdapter,
}


def build_chains(settings: Settings) -> ChainRegistry:
    return ChainRegistry([FAMILIES[config.family](config) for config in settings.all_chains()])
