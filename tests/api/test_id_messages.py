"""A malformed id in a path is a 404 that names the kind of object asked for."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient


@pytest.mark.parametrize(("method", "path", "noun"), [
    ("GET", "/v1/payments/not-an-id", "no payment"),
    ("GET", "/v1/events/not-an-id", "no event"),
    ("POST", "/v1/events/not-an-id/redeliver", "no event"),
    ("DELETE", "/v1/webhook_endpoints/not-an-id", "no webhook endpoint"),
])
async def test_a_malformed_id_is_missing_under_its_own_name(
        api: TestClient, merchant: dict[str, str], method: str, path: str, noun: str) -> None:
    resp = await api.request(method, path, headers=merchant)
    assert resp.status == 404
    error = (await resp.json())["error"]
    assert error["code"] == "resource_missing"
    assert error["message"].startswith(noun), error["message"]
