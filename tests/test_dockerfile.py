"""The image is built from a pinned dependency set and checks health on the port it is told to
use. (No Docker engine in CI: these read the files the build reads.)"""

from __future__ import annotations

import re
import tomllib

from tests.conftest import ROOT


def _name(requirement: str) -> str:
    """PEP 503 normalised project name of a requirement line (`pydantic[email]>=2` -> pydantic)."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert name is not None, requirement
    return re.sub(r"[-_.]+", "-", name.group(1)).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[_name(name)] = version
    return pins


def test_constraints_pin_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    missing = [d for d in project["dependencies"] if _name(d) not in pins]
    assert missing == []
    # Test-only tools stay out of the production image's pins.
    assert "pytest" not in pins
    assert "schemathesis" not in pins


def test_the_image_installs_from_the_constraints() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml README.md constraints.txt ./" in dockerfile
    assert re.search(r"pip install [^\n]*-c constraints\.txt \.", dockerfile)


def test_the_image_is_built_in_two_stages_and_ships_only_the_virtualenv() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", dockerfile, re.M)
    assert stages == [("python:3.11-slim", "build"), ("python:3.11-slim", "")]
    final = dockerfile[dockerfile.rindex("\nFROM "):]
    assert "COPY --from=build /opt/paywatch /opt/paywatch" in final
    assert "PATH=/opt/paywatch/bin:$PATH" in final
    # The final stage copies no sources and runs no pip: only the built virtualenv.
    assert not re.search(r"^COPY (?!--from=build)", final, re.M)
    assert "pip install" not in final
    assert "USER paywatch" in final


def test_healthcheck_follows_the_configured_port_and_data_is_a_volume() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    healthcheck = dockerfile[dockerfile.index("HEALTHCHECK"):]
    healthcheck = healthcheck[:healthcheck.index("\nENTRYPOINT")]
    assert "8080" not in healthcheck
    assert "PAYWATCH_API_PORT" in healthcheck
    assert re.search(r"^VOLUME \[?\"?/var/lib/paywatch", dockerfile, re.M)
    assert "PAYWATCH_DATA_DIR=/var/lib/paywatch" in dockerfile
