"""/docs's examples are real and true: every documented operation has one (recorded by
scripts/record_examples.py against the real app), each request and answer validates against
the OpenAPI document's own schemas (JSON Schema 2020-12, with the `jsonschema` library), and
the recorder still runs and covers the same operations with the same statuses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from api.docs import EXAMPLES_FILE
from api.openapi import build_document
from tests.conftest import ROOT

DOC_URI = "urn:paywatch:openapi"
RECORDER = ROOT / "scripts" / "record_examples.py"


def committed_examples() -> dict[str, Any]:
    return dict(json.loads((ROOT / "api" / "docs" / EXAMPLES_FILE).read_text("utf-8")))


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    """The document the app serves, built from the same route modules as build_app."""
    from api.app import ROUTE_MODULES

    return build_document([op for m in ROUTE_MODULES for op in getattr(m, "OPERATIONS", [])])


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: {**op, "path": path, "method": method.upper()}
            for path, methods in doc["paths"].items() for method, op in methods.items()}


class Schemas:
    """Validates values against schemas of the document, its `$ref`s resolved in it."""

    def __init__(self, doc: dict[str, Any]) -> None:
        resource = Resource.from_contents(doc, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)

    def check(self, schema: dict[str, Any], value: Any, where: str) -> None:
        # A piece of the document refers to `#/components/...` of the whole document.
        absolute = json.loads(json.dumps(schema).replace('"#/', f'"{DOC_URI}#/'))
        validator = jsonschema.Draft202012Validator(absolute, registry=self.registry)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator.iter_errors(value)]
        assert not errors, (where, errors[:5])


def check_example(schemas: Schemas, op: dict[str, Any], ex: dict[str, Any]) -> None:
    where = f"{ex['method']} {ex['url']} -> {ex['status']}"
    assert (ex["method"], ex["path"]) == (op["method"], op["path"]), where
    url = urlsplit(ex["url"])
    pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(op["path"]))
    assert re.fullmatch(pattern, url.path), where
    _check_query(schemas, op, dict(parse_qsl(url.query)), where)
    if ex["body"] is not None:
        body_schema = op["requestBody"]["content"]["application/json"]["schema"]
        schemas.check(body_schema, ex["body"], where + " (request)")
    answer = op["responses"][str(ex["status"])]
    content = answer.get("content", {})
    if not content:
        assert "response" not in ex, where
        assert not ex.get("response_text"), where
        return
    assert ex["content_type"] in content, (where, list(content))
    schema = content[ex["content_type"]]["schema"]
    value = ex["response"] if "response" in ex else ex["response_text"]
    schemas.check(schema, value, where + " (response)")


def _check_query(schemas: Schemas, op: dict[str, Any], query: dict[str, str],
                 where: str) -> None:
    params = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
    assert set(query) <= set(params), (where, set(query) - set(params))
    for name, param in params.items():
        if name not in query:
            assert not param["required"], (where, name)
            continue
        value: Any = query[name]
        if value.isdigit() and "integer" in json.dumps(param["schema"]):
            value = int(value)   # a query string is text; the API reads numbers from it
        schemas.check(param["schema"], value, f"{where} (query {name})")


def check_webhook(schemas: Schemas, doc: dict[str, Any], body: dict[str, Any]) -> None:
    item = doc["webhooks"][body["type"]]["post"]
    schemas.check(item["requestBody"]["content"]["application/json"]["schema"], body,
                  f"webhook {body['type']}")


def test_every_operation_has_a_recorded_example(doc: dict[str, Any]) -> None:
    recorded = committed_examples()["operations"]
    missing = sorted(set(operations(doc)) - set(recorded))
    stale = sorted(set(recorded) - set(operations(doc)))
    assert not missing, f"no example for {missing}: run scripts/record_examples.py"
    assert not stale, f"examples of operations that are gone: {stale}"


def test_every_example_validates_against_the_document(doc: dict[str, Any]) -> None:
    schemas, ops = Schemas(doc), operations(doc)
    examples = committed_examples()
    for op_id, ex in examples["operations"].items():
        check_example(schemas, ops[op_id], ex)
    for body in examples["webhooks"].values():
        check_webhook(schemas, doc, body)


def test_a_wrong_example_fails_validation(doc: dict[str, Any]) -> None:
    """The check above can fail: a field of the wrong type or an unknown one is caught."""
    schemas, ops = Schemas(doc), operations(doc)
    ex = committed_examples()["operations"]["get_payments_id"]
    for broken in ({**ex["response"], "amount_due": 5}, {**ex["response"], "surprise": 1}):
        with pytest.raises(AssertionError):
            check_example(schemas, ops["get_payments_id"], {**ex, "response": broken})


def test_the_recorder_still_records_the_same_operations(
        doc: dict[str, Any], db_dsn: str, tmp_path: Path) -> None:
    out, log = tmp_path / "examples.json", tmp_path / "recorder.log"
    with log.open("w") as sink:
        done = subprocess.run([sys.executable, str(RECORDER), "--database-url", db_dsn,
                               "--out", str(out)], stdout=sink, stderr=subprocess.STDOUT,
                              timeout=240, check=False, cwd=tmp_path)
    assert done.returncode == 0, log.read_text()
    fresh, committed = json.loads(out.read_text("utf-8")), committed_examples()

    def statuses(examples: dict[str, Any]) -> dict[str, int]:
        return {op: ex["status"] for op, ex in examples["operations"].items()}

    assert statuses(fresh) == statuses(committed)
    assert set(fresh["webhooks"]) == set(committed["webhooks"])
    schemas, ops = Schemas(doc), operations(doc)
    for op_id, ex in fresh["operations"].items():
        check_example(schemas, ops[op_id], ex)
    for body in fresh["webhooks"].values():   # events the run really emitted
        check_webhook(schemas, doc, body)
    assert "pw_live_" not in out.read_text().replace("pw_live_...", "")
