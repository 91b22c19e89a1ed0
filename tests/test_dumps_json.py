"""db/pool.dumps_json, the one JSON encoder (jsonb parameters, API answers, webhook bodies):
compact UTF-8 from orjson, and the standard library's path for what orjson refuses, so nothing
it encoded before is refused or changed in value now."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from db.pool import dumps_json, encode_json


def test_compact_utf8_with_decimals_as_strings() -> None:
    encoded = dumps_json({"amount": Decimal("1.50"), "list": [1, None, True], "name": "Zoë"})
    assert encoded == '{"amount":"1.50","list":[1,null,true],"name":"Zoë"}'.encode()
    assert encode_json({"a": 1}) == '{"a":1}'


@pytest.mark.parametrize("value", [
    {"wei": 10**20},          # 100 ETH in wei: beyond 64 bits, which orjson refuses
    {"neg": -(2**70)},
    {1: "an int key"},        # orjson refuses keys that are not strings
    [{"deep": [2**64]}],
])
def test_what_orjson_refuses_takes_the_standard_librarys_path(value: object) -> None:
    assert json.loads(dumps_json(value)) == json.loads(json.dumps(value))


def test_what_neither_can_encode_is_still_refused() -> None:
    with pytest.raises(TypeError):
        dumps_json({"x": object()})
    with pytest.raises(TypeError):
        dumps_json({"f": 1.5j})
