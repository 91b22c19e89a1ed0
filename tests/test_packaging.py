"""paywatch installs top-level packages with plain names (README, "Packaging"): no other
distribution in the environment may ship a module of the same name, or one would shadow the
other depending on the order of sys.path."""

from __future__ import annotations

import tomllib
from importlib.metadata import packages_distributions

from tests.conftest import ROOT

OURS = ("paywatch", "api", "watcher", "db", "migrations", "simnet")


def test_the_distribution_ships_exactly_our_top_level_packages() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(name.rstrip("*") for name in included) == sorted(OURS)


def test_no_other_installed_distribution_provides_our_top_level_names() -> None:
    owners = packages_distributions()
    clashes = {name: sorted(set(owners[name]) - {"paywatch"}) for name in OURS
               if set(owners.get(name, [])) - {"paywatch"}}
    assert clashes == {}
