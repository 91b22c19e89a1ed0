"""`.env.example`, the settings and README's Configuration table agree: every setting is in the
example at its default and has a documented meaning (scripts/env_example.py regenerates it)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from paywatch.core.settings import Settings
from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("env_example", ROOT / "scripts" / "env_example.py")
assert spec is not None
assert spec.loader is not None
env_example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(env_example)


def test_the_committed_example_is_what_the_settings_and_readme_make() -> None:
    committed = (ROOT / ".env.example").read_text()
    assert committed == env_example.render((ROOT / "README.md").read_text()), \
        "run .venv/bin/python scripts/env_example.py"


def test_every_setting_is_in_the_example_and_documented() -> None:
    committed = (ROOT / ".env.example").read_text()
    named = re.findall(r"^# (PAYWATCH_\w+)=", committed, re.M)
    assert named == [f"PAYWATCH_{n.upper()}" for n in Settings.model_fields]
    assert "UNDOCUMENTED" not in committed


def test_the_example_parses_back_to_the_defaults(tmp_path: Path) -> None:
    # Uncommented, the file is a valid configuration equal to no configuration at all.
    lines = [line[2:] for line in (ROOT / ".env.example").read_text().splitlines()
             if line.startswith("# PAYWATCH_") and not line.endswith("=")]
    path = tmp_path / "env-example.env"
    path.write_text("\n".join(lines) + "\n")
    from_file = Settings(_env_file=str(path))  # type: ignore[call-arg]
    assert from_file.model_dump() == Settings(_env_file=None).model_dump()  # type: ignore[call-arg]
