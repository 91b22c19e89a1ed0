"""Settings: bad values exit 2 naming the variable; `config show` masks secrets."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from paywatch.core.settings import SettingsError, load_settings
from tests.conftest import PAYWATCH, clean_env


def config_show(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAYWATCH, "config", "show", "--json"], env=clean_env(**env),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("PAYWATCH_API_PORT", "eighty", "valid integer"),
    ("PAYWATCH_API_PORT", "70000", "less than or equal to 65535"),
    ("PAYWATCH_LOG_FORMAT", "xml", "'json' or 'console'"),
    ("PAYWATCH_SOLANA_COMMITMENT", "instant", "'processed', 'confirmed' or 'finalized'"),
    ("PAYWATCH_SOLANA_RPC_URLS", "ftp://node", "http:// or https://"),
    ("PAYWATCH_SOLANA_WS_URLS", "http://node", "ws:// or wss://"),
    ("PAYWATCH_STATIC_PRICES", '{"SOL": "-3"}', "positive"),
    ("PAYWATCH_STATIC_PRICES", "[1, 2]", "JSON object"),
    ("PAYWATCH_PRICE_SOURCES", "static,oracle", "comma-separated list"),
])
def test_a_bad_value_exits_2_naming_the_variable(tmp_path: Path, variable: str, value: str,
                                                  expected: str) -> None:
    result = config_show(tmp_path, **{variable: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"paywatch: invalid configuration: {variable}: ")
    assert expected in lines[0]


def test_every_bad_variable_gets_its_own_line(tmp_path: Path) -> None:
    result = config_show(tmp_path, PAYWATCH_API_PORT="x", PAYWATCH_LOG_LEVEL="loud")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert any("PAYWATCH_API_PORT" in line for line in lines)
    assert any("PAYWATCH_LOG_LEVEL" in line for line in lines)


def test_config_show_masks_the_database_password(tmp_path: Path) -> None:
    url = "postgresql://pay:hunter2secret@db.internal:5432/paywatch"
    result = config_show(tmp_path, PAYWATCH_DATABASE_URL=url,
                         PAYWATCH_SOLANA_RPC_URLS="http://a:8899, http://b:8899")
    assert result.returncode == 0, result.stderr
    assert "hunter2secret" not in result.stdout + result.stderr
    view = json.loads(result.stdout)
    # mask_url's rule (tests/test_redact.py): userinfo, path and query values hidden.
    assert view["PAYWATCH_DATABASE_URL"] == "postgresql://***@db.internal:5432/***"
    assert view["PAYWATCH_SOLANA_RPC_URLS"] == ["http://a:8899", "http://b:8899"]
    assert view["PAYWATCH_API_PORT"] == 8080


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PAYWATCH_API_PORT=9191\nPAYWATCH_LOG_FORMAT=json\n")
    view = json.loads(config_show(tmp_path).stdout)
    assert view["PAYWATCH_API_PORT"] == 9191
    assert view["PAYWATCH_LOG_FORMAT"] == "json"


def test_prices_are_decimals_never_floats() -> None:
    settings = load_settings(static_prices='{"sol": 150.10, "USDC": "1"}', _env_file=None)
    assert settings.static_prices == {"SOL": Decimal("150.10"), "USDC": Decimal("1")}
    with pytest.raises(SettingsError) as err:
        load_settings(static_prices='{"SOL": "abc"}', _env_file=None)
    assert err.value.lines[0].startswith("PAYWATCH_STATIC_PRICES:")
