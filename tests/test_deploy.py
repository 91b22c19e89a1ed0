"""The operator's kit in deploy/, checked without a Docker engine: the compose file against the
Compose Specification's JSON schema, the alert rules with promtool (syntax and unit tests), the
Grafana dashboard's expressions parsed by promtool, and every metric they name scraped from a
live `paywatch run`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, clean_env
from tests.test_daemon import get, start, stop, wait_ready

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "paywatch.json"
CHECK_JSONSCHEMA = Path(ROOT / ".venv" / "bin" / "check-jsonschema")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: scripts/test installs Debian's `prometheus` package "
                    "(apt-get install prometheus), which has it")
    return found


def run(args: list[str], tmp_path: Path) -> str:
    """Run a checker with its output in a file (never an unread pipe); fail with that output."""
    log = tmp_path / f"{Path(args[0]).name}.log"
    with log.open("w") as out:
        code = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, check=False,
                              timeout=120).returncode
    text = log.read_text()
    assert code == 0, text
    return text


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_compose_file_follows_the_compose_specification(tmp_path: Path) -> None:
    checker = shutil.which("check-jsonschema") or str(CHECK_JSONSCHEMA)
    out = run([checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)], tmp_path)
    assert "ok -- validation done" in out


def test_the_stack_runs_two_api_processes_one_watcher_and_checks_every_service() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "api-1", "api-2", "watcher", "prometheus", "grafana"}
    roles = sorted(s["command"][-1] for s in services.values()
                   if s.get("image") == "paywatch:local")
    assert roles == ["api", "api", "watcher"]
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    assert services["postgres"]["image"] == "postgres:16"
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]


def test_secrets_come_from_env_files_whose_examples_are_committed() -> None:
    text = COMPOSE.read_text()
    assert re.findall(r"\$\{(\w+)", text) != []
    interpolated = set(re.findall(r"\$\{(\w+)", text))
    example = (DEPLOY / ".env.example").read_text()
    assert interpolated == set(re.findall(r"^(\w+)=", example, re.M))
    for service in compose()["services"].values():
        for env_file in service.get("env_file", []):
            assert (DEPLOY / f"{env_file['path']}.example").exists()
    # No password in the file itself: each comes from deploy/.env by interpolation.
    for service in compose()["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert str(value).startswith("${"), key
            if key == "PAYWATCH_DATABASE_URL":
                assert ":${POSTGRES_PASSWORD" in value


def test_the_paywatch_env_example_names_only_real_settings() -> None:
    from paywatch.core.settings import Settings

    known = {f"PAYWATCH_{name.upper()}" for name in Settings.model_fields}
    named = re.findall(r"^(\w+)=", (DEPLOY / "paywatch.env.example").read_text(), re.M)
    assert named != []
    assert sorted(set(named) - known) == []


def test_the_prometheus_config_loads_the_rules_and_scrapes_every_paywatch_process(
        tmp_path: Path) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for group in job["static_configs"]
               for t in group["targets"]]
    assert sorted(targets) == ["api-1:8080", "api-2:8080", "watcher:8080"]
    # promtool resolves rule files from the config: point it at ours.
    config["rule_files"] = [str(ALERTS)]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    run([promtool(), "check", "config", str(local)], tmp_path)


def test_the_alert_rules_are_valid_and_their_unit_tests_pass(tmp_path: Path) -> None:
    run([promtool(), "check", "rules", str(ALERTS)], tmp_path)
    out = run([promtool(), "test", "rules", str(DEPLOY / "prometheus" / "alerts.test.yml")],
              tmp_path)
    assert "SUCCESS" in out
    # Each alert has a runbook line and is exercised by a unit test.
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    tests = (DEPLOY / "prometheus" / "alerts.test.yml").read_text()
    for rule in rules:
        assert rule["annotations"]["runbook"].strip(), rule["alert"]
        assert f"alertname: {rule['alert']}" in tests, rule["alert"]


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    exprs = dashboard_expressions()
    assert len(exprs) >= 20
    # promtool parses rule expressions: each panel query becomes a recording rule.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump(rules))
    run([promtool(), "check", "rules", str(path)], tmp_path)


def test_every_panel_uses_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid, panel["title"]


_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def metric_names(expr: str) -> set[str]:
    return {m for m in re.findall(r"\b(paywatch_[a-z_]+|process_[a-z_]+)\b", expr)}


def family(name: str, families: set[str]) -> str | None:
    """The exposition family `name` belongs to (counters are exposed as NAME_total...)."""
    for candidate in (name, *(name.removesuffix(s) for s in _SUFFIXES if name.endswith(s))):
        if candidate in families:
            return candidate
    return None


def test_every_metric_the_dashboard_and_alerts_use_exists_in_a_live_daemon(
        db_dsn: str, tmp_path: Path) -> None:
    proc, base = start(clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_SOLANA_WATCH="false"),
                       tmp_path)
    try:
        wait_ready(base, proc)
        status, body = get(f"{base}/metrics")
        stop(proc, timeout=30)
    finally:
        proc.kill()
    assert status == 200
    families = set(re.findall(r"^# TYPE (\S+) ", body.decode(), re.M))
    used: set[str] = set()
    for expr in dashboard_expressions():
        used |= metric_names(expr)
    for rule in yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]:
        used |= metric_names(rule["expr"])
    assert len(used) >= 25
    missing = sorted(name for name in used if family(name, families) is None)
    assert missing == []
