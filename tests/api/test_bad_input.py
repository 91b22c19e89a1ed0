"""Every class of bad input gets a clear error with the standard shape, and changes nothing."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import api_client, make_store

GOOD = {"amount": "10.00", "currency": "USD", "asset": "SOL"}


async def post(api: TestClient, headers: dict[str, str], **kwargs: object) -> tuple[int, dict]:
    resp = await api.post("/v1/payments", headers=headers, **kwargs)
    body = await resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "code", "message", "param"}
    return resp.status, body["error"]


async def test_malformed_json_is_400(api: TestClient, merchant: dict[str, str]) -> None:
    status, error = await post(api, {**merchant, "Content-Type": "application/json"},
                               data=b'{"amount": "10",')
    assert (status, error["code"]) == (400, "invalid_json")
    status, error = await post(api, {**merchant, "Content-Type": "application/json"},
                               data=b'{"amount": NaN}')
    assert status == 400
    status, error = await post(api, merchant, json=[GOOD])
    assert (status, error["message"]) == (400, "the body must be a JSON object")


async def test_a_body_that_is_not_json_is_415(api: TestClient, merchant: dict[str, str]) -> None:
    status, error = await post(api, merchant, data={"amount": "10"})
    assert (status, error["code"]) == (415, "unsupported_media_type")


async def test_a_huge_body_is_413(api: TestClient, merchant: dict[str, str]) -> None:
    status, _error = await post(api, merchant, json={**GOOD, "memo": "x" * 200_000})
    assert status == 413


@pytest.mark.parametrize(("patch", "param", "code"), [
    ({"colour": "red"}, "colour", "parameter_unknown"),
    ({"asset": 5}, "asset", "parameter_invalid"),
    ({"amount": "-3"}, "amount", "parameter_invalid"),
    ({"amount": "0"}, None, "parameter_invalid"),
    ({"amount": "1e3"}, "amount", "parameter_invalid"),
    ({"amount": "99999999999"}, "amount", "parameter_invalid"),
    ({"amount": "1.123456789"}, "amount", "parameter_invalid"),
    ({"amount": True}, "amount", "parameter_invalid"),
    ({"currency": "usdollars"}, "currency", "parameter_invalid"),
    ({"currency": "XYZ"}, "currency", "parameter_invalid"),
    ({"asset": None}, "asset", "parameter_invalid"),
    ({"chain": "bitcoin"}, "chain", "chain_not_configured"),
    ({"chain": "Not A Chain"}, "chain", "parameter_invalid"),
    ({"expires_in": 5}, "expires_in", "parameter_invalid"),
    ({"expires_in": "600"}, "expires_in", "parameter_invalid"),
    ({"redirect_url": "javascript:alert(1)"}, "redirect_url", "parameter_invalid"),
    ({"metadata": {"k": 1}}, "metadata.k", "parameter_invalid"),
    ({"order_id": "not-a-uuid"}, None, "parameter_invalid"),
    ({"label": "x" * 201}, "label", "parameter_invalid"),
])
async def test_invalid_fields_are_422_naming_the_parameter(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool,
        patch: dict[str, object], param: str | None, code: str) -> None:
    status, error = await post(api, merchant, json={**GOOD, **patch})
    assert status == 422, error
    assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    assert await pool.fetchval("SELECT count(*) FROM payments") == 0


async def test_json_numbers_are_read_exactly_never_through_float(
        api: TestClient, merchant: dict[str, str]) -> None:
    resp = await api.post("/v1/payments", headers={**merchant,
                          "Content-Type": "application/json"},
                          data=b'{"amount": 0.1000000000000000055511151231257827, '
                               b'"currency": "USD", "asset": "SOL"}')
    assert resp.status == 422  # more than 8 decimals: refused, not rounded through a float
    resp = await api.post("/v1/payments", json={**GOOD, "amount": 10.1}, headers=merchant)
    assert resp.status == 201
    assert (await resp.json())["fiat_amount"] == "10.10"


async def test_missing_field_is_named(api: TestClient, merchant: dict[str, str]) -> None:
    status, error = await post(api, merchant, json={"amount": "1", "currency": "USD"})
    assert (status, error["code"], error["param"]) == (422, "parameter_missing", "asset")


async def test_an_asset_the_store_does_not_accept(api: TestClient,
                                                  merchant: dict[str, str]) -> None:
    status, error = await post(api, merchant, json={**GOOD, "asset": "DOGE"})
    assert (status, error["code"], error["param"]) == (422, "asset_not_accepted", "asset")
    assert "accepted: SOL, USDC" in error["message"]


async def test_text_that_breaks_the_url_limit_is_422(api: TestClient,
                                                     merchant: dict[str, str]) -> None:
    status, error = await post(api, merchant, json={**GOOD, "memo": "é" * 400})
    assert (status, error["code"], error["param"]) == (422, "payment_url_too_long", "memo")


async def test_an_unknown_order_is_404_and_a_paid_one_409(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    status, error = await post(api, merchant, json={
        "asset": "SOL", "order_id": "00000000-0000-4000-8000-000000000000"})
    assert (status, error["param"]) == (404, "order_id")
    order_id = await pool.fetchval(
        "INSERT INTO orders (store_id, number, currency, subtotal, total, status, paid_at) "
        "SELECT id, 'ORD-P', 'USD', 5, 5, 'paid', now() FROM stores WHERE slug = 'shop' "
        "RETURNING id")
    status, error = await post(api, merchant, json={"asset": "SOL", "order_id": str(order_id)})
    assert (status, error["code"]) == (409, "order_not_payable")


async def test_bad_idempotency_key_and_bad_ids(api: TestClient,
                                               merchant: dict[str, str]) -> None:
    status, error = await post(api, {**merchant, "Idempotency-Key": "k" * 300}, json=GOOD)
    assert (status, error["code"]) == (400, "idempotency_key_invalid")
    for path in ("/v1/payments/123", "/v1/payments/00000000-0000-4000-8000-000000000000"):
        resp = await api.get(path, headers=merchant)
        assert resp.status == 404
    resp = await api.get("/v1/payments", params={"limit": "1000"}, headers=merchant)
    assert resp.status == 422
    resp = await api.get("/v1/payments", params={"cursor": "garbage!"}, headers=merchant)
    assert (await resp.json())["error"]["param"] == "cursor"
    resp = await api.get("/v1/payments", params={"sort": "asc"}, headers=merchant)
    assert (await resp.json())["error"]["code"] == "parameter_unknown"


async def test_rate_limit_answers_429_with_retry_after(pool: asyncpg.Pool) -> None:
    headers, _ = await make_store(pool, "busy")
    async with api_client(pool, api_rate_limit_per_minute=3) as api:
        statuses = [(await api.get("/v1/me", headers=headers)).status for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        resp = await api.get("/v1/me", headers=headers)
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) >= 1
        assert (await resp.json())["error"]["type"] == "rate_limit_error"


async def test_nul_characters_are_refused_anywhere(api: TestClient,
                                                   merchant: dict[str, str]) -> None:
    for patch in ({"label": "a\x00b"}, {"metadata": {"k\x00": "v"}}):
        status, error = await post(api, merchant, json={**GOOD, **patch})
        assert status == 422
        assert "NUL" in error["message"]
