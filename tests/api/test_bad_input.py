"""Every class of bad input gets a clear error with the standard shape, and changes nothing."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from db.pool import create_pool
from tests.conftest import api_client, free_port, make_store

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
    ({"amount": "١٢.٥٠"}, "amount", "parameter_invalid"),  # Arabic-Indic digits: 12.50
    ({"amount": "๑๒"}, "amount", "parameter_invalid"),  # Thai digits: 12
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
    # Valid as a URL, but the checkout page's safe_redirect would drop it (a quote): refused.
    ({"redirect_url": "https://shop.example/it's"}, "redirect_url", "parameter_invalid"),
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


# ----- input that used to reach the database and come back as a 500 -----

def _assert_error_shape(body: dict) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "code", "message", "param"}


async def _status(api: TestClient, method: str, path: str, headers: dict[str, str],
                  **kwargs: object) -> tuple[int, dict]:
    resp = await api.request(method, path, headers=headers, **kwargs)
    body = await resp.json()
    _assert_error_shape(body)
    return resp.status, body["error"]


@pytest.mark.parametrize("path", [
    "/v1/payments/a%00b", "/v1/orders/a%00b", "/v1/customers/a%00b@example.com/orders",
    "/v1/events/a%00b", "/v1/webhook_endpoints/a%00b"])
async def test_nul_in_a_path_segment_is_404(api: TestClient, merchant: dict[str, str],
                                            path: str) -> None:
    method = "DELETE" if path.startswith("/v1/webhook_endpoints") else "GET"
    status, error = await _status(api, method, path, merchant)
    assert (status, error["code"]) == (404, "resource_missing")


async def test_nul_in_a_store_reference_is_404(pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "admin-shop", scopes=["admin"])
    async with api_client(pool) as api:
        for method in ("GET", "POST"):
            status, _error = await _status(api, method, "/v1/stores/a%00b", headers,
                                           json={"name": "x"})
            assert status == 404


@pytest.mark.parametrize(("path", "param"), [
    ("/v1/orders?customer_email=a%00b", "customer_email"),
    ("/v1/events?type=payment.created%00", "type"),
    ("/v1/payments?cursor=%00", "cursor"),
])
async def test_nul_in_a_query_value_is_422(api: TestClient, merchant: dict[str, str],
                                           path: str, param: str) -> None:
    status, error = await _status(api, "GET", path, merchant)
    assert (status, error["param"]) == (422, param)


@pytest.mark.parametrize("path", [
    "/v1/events?cursor=9999999999999999999",
    "/v1/transfers/unmatched?cursor=9999999999999999999",
    "/v1/events?cursor=9223372036854775808",
])
async def test_a_cursor_beyond_int64_is_422(api: TestClient, merchant: dict[str, str],
                                            path: str) -> None:
    status, error = await _status(api, "GET", path, merchant)
    assert (status, error["param"]) == (422, "cursor")


UNSTORABLE_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.mark.parametrize("stamp", UNSTORABLE_TIMES)
@pytest.mark.parametrize(("path", "param"), [
    ("/v1/payments", "created_gte"), ("/v1/payments", "created_lt"),
    ("/v1/orders", "created_gte"), ("/v1/orders", "created_lt"),
    ("/v1/analytics/summary", "from"), ("/v1/analytics/summary", "to"),
])
async def test_a_time_postgresql_cannot_store_is_422(
        api: TestClient, merchant: dict[str, str], stamp: str, path: str, param: str) -> None:
    status, error = await _status(api, "GET", path, merchant, params={param: stamp})
    assert (status, error["param"]) == (422, param)


@pytest.mark.parametrize("stamp", UNSTORABLE_TIMES)
@pytest.mark.parametrize("path", ["/v1/payments", "/v1/orders"])
async def test_a_cursor_with_a_time_postgresql_cannot_store_is_422(
        api: TestClient, merchant: dict[str, str], stamp: str, path: str) -> None:
    import base64
    cursor = base64.urlsafe_b64encode(
        f"{stamp}|00000000-0000-4000-8000-000000000000".encode()).decode().rstrip("=")
    status, error = await _status(api, "GET", path, merchant, params={"cursor": cursor})
    assert (status, error["param"]) == (422, "cursor")


async def test_an_idempotency_key_that_is_not_utf8_is_400(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    # Raw bytes on the wire: aiohttp's client would refuse to encode such a header itself.
    reader, writer = await asyncio.open_connection(api.host, api.port)
    body = b'{"amount": "10.00", "currency": "USD", "asset": "SOL"}'
    writer.write(b"POST /v1/payments HTTP/1.1\r\nHost: localhost\r\n"
                 + f"Authorization: {merchant['Authorization']}\r\n".encode()
                 + b"Content-Type: application/json\r\nIdempotency-Key: k\xff\xfe\x80\r\n"
                 + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"idempotency_key_invalid" in payload
    assert await pool.fetchval("SELECT count(*) FROM payments") == 0


@pytest.mark.parametrize("depth", [20_000, 500])
async def test_deeply_nested_json_is_400(api: TestClient, merchant: dict[str, str],
                                         depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    for raw in (nested, b'{"amount": "10", "metadata": {"k": ' + nested + b"}}"):
        status, error = await post(api, {**merchant, "Content-Type": "application/json"},
                                   data=raw)
        assert (status, error["code"]) == (400, "invalid_json")


NOT_NULL_STORE_FIELDS = [
    "name", "default_currency", "commitment", "underpaid_tolerance_percent",
    "underpaid_tolerance_amount", "payment_lifetime_seconds", "monitoring_window_seconds",
    "confirmation_window_seconds", "accept_late_payments", "cfv_policy", "allow_framing",
    "assets", "evm"]


@pytest.mark.parametrize("field", NOT_NULL_STORE_FIELDS)
async def test_null_for_a_store_field_that_cannot_be_null_is_422(
        pool: asyncpg.Pool, field: str) -> None:
    from db import api_keys
    from paywatch.core.apikeys import display_prefix, generate_key, hash_key

    key = generate_key()
    async with pool.acquire() as conn:
        await api_keys.insert_key(conn, None, "operator", display_prefix(key), hash_key(key),
                                  ["admin"])
    headers = {"Authorization": f"Bearer {key}"}
    async with api_client(pool) as api:
        create = {"slug": "nully", "name": "Nully", field: None}
        status, error = await _status(api, "POST", "/v1/stores", headers, json=create)
        assert (status, error["param"]) == (422, field)
        resp = await api.post("/v1/stores", headers=headers, json={"slug": "nully",
                                                                   "name": "Nully"})
        assert resp.status == 201
        status, error = await _status(api, "POST", "/v1/stores/nully", headers,
                                      json={field: None})
        assert (status, error["param"]) == (422, field)
        doc = await (await api.get("/openapi.json")).json()
    for model in ("StoreFields", "StoreCreate"):
        prop = doc["components"]["schemas"][model]["properties"][field]
        top = [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]  # evm's values may be null
        assert all(b.get("type") != "null" for b in top), (model, field, prop)
        assert prop.get("default", "") is not None, (model, field, prop)


# ----- the database is gone: every request says so with a 503 and Retry-After -----

UNAVAILABLE_REQUESTS = [
    ("GET", "/v1/me", None), ("GET", "/v1/payments", None),
    ("POST", "/v1/payments", GOOD), ("GET", "/v1/orders/ORD-20260101-0001", None),
    ("GET", "/v1/quotes?asset=SOL&amount=1&currency=USD", None)]


async def _assert_all_unavailable(api: TestClient, headers: dict[str, str]) -> None:
    for method, path, body in UNAVAILABLE_REQUESTS:
        resp = await api.request(method, path, headers=headers, json=body)
        payload = await resp.json()
        assert resp.status == 503, (method, path, payload)
        assert int(resp.headers["Retry-After"]) >= 1
        _assert_error_shape(payload)
        assert payload["error"]["code"] == "database_unavailable"


async def test_every_request_is_503_while_the_database_is_dropped(
        databases: object, template_db: str) -> None:
    from tests.pg import DatabaseFactory
    assert isinstance(databases, DatabaseFactory)
    name = await asyncio.to_thread(databases.create, template=template_db)
    pool = await create_pool(databases.dsn(name), min_size=1, max_size=2)
    try:
        headers, _store = await make_store(pool, "doomed")
        async with api_client(pool) as api:
            assert (await api.get("/v1/me", headers=headers)).status == 200
            # FORCE ends the pool's open connections; new ones find no database.
            await asyncio.to_thread(databases.drop, name)
            await _assert_all_unavailable(api, headers)
    finally:
        await pool.close()


async def test_every_request_is_503_while_the_database_port_is_closed() -> None:
    # A pool that connects lazily to a port nobody listens on: every acquire is refused.
    await _assert_all_unavailable_at(free_port())


async def test_every_request_is_503_while_the_database_host_is_silent(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A host that accepts and never answers (a firewall dropping packets looks the same to a
    # client): the connect gives up after CONNECT_TIMEOUT_S, and the answer is 503.
    import asyncio

    import db.pool

    async def silent(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(db.pool, "CONNECT_TIMEOUT_S", 0.3)
    try:
        await _assert_all_unavailable_at(port)
    finally:
        server.close()


async def _assert_all_unavailable_at(port: int) -> None:
    """Every request is 503 through a pool whose database server is at `port` on loopback."""
    from paywatch.core.apikeys import generate_key

    pool = await create_pool(f"postgresql://postgres@127.0.0.1:{port}/none", min_size=0)
    try:
        async with api_client(pool) as api:
            await _assert_all_unavailable(api, {"Authorization": f"Bearer {generate_key()}"})
    finally:
        await pool.close()


@pytest.mark.parametrize("amount", ["١٢.٥٠", "๑๒", "１２"])
async def test_amounts_in_unicode_digits_are_refused_everywhere(
        api: TestClient, merchant: dict[str, str], amount: str) -> None:
    status, error = await _status(api, "GET", "/v1/quotes", merchant,
                                  params={"asset": "SOL", "amount": amount, "currency": "USD"})
    assert (status, error["param"]) == (422, "amount")
    order = {"customer": {"email": "a@example.com"}, "currency": "USD",
             "items": [{"sku": "s", "name": "n", "quantity": 1, "unit_price": amount}]}
    status, error = await _status(api, "POST", "/v1/orders", merchant, json=order)
    assert (status, error["param"]) == (422, "items.0.unit_price")
    for field in ("shipping", "tax"):
        order_with = {**order, "items": [{**order["items"][0], "unit_price": "1"}],
                      field: amount}
        status, error = await _status(api, "POST", "/v1/orders", merchant, json=order_with)
        assert (status, error["param"]) == (422, field)


# ----- the published document and the API agree -----

async def test_every_route_documents_what_it_answers(api: TestClient) -> None:
    doc = await (await api.get("/openapi.json")).json()
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            codes = set(op["responses"])
            if op.get("security"):
                assert "503" in codes, (method, path)  # the database may be unreachable
            if method == "post":
                assert {"400", "409"} <= codes, (method, path)  # Idempotency-Key
    redeliver = doc["paths"]["/v1/events/{id}/redeliver"]["post"]["responses"]
    assert {"200", "400", "404", "409", "503"} <= set(redeliver)


@pytest.mark.parametrize("amount", ["0", "0.00", "000", "0.5", "1", "00.10"])
async def test_the_amount_schema_allows_exactly_what_the_api_accepts(
        api: TestClient, merchant: dict[str, str], amount: str) -> None:
    import jsonschema_rs  # schemathesis's own validator

    doc = await (await api.get("/openapi.json")).json()
    prop = doc["components"]["schemas"]["PaymentCreate"]["properties"]["amount"]
    schema_allows = jsonschema_rs.Draft202012Validator(prop).is_valid(amount)
    resp = await api.post("/v1/payments", headers=merchant, json={**GOOD, "amount": amount})
    assert (resp.status == 201) == schema_allows, (amount, resp.status, await resp.text())
