"""Webhook endpoints and events through the API, delivered to a real receiver."""

from __future__ import annotations

import aiohttp
import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from paywatch.core.webhooks import SIGNATURE_HEADER, verify_signature
from tests.conftest import api_client, make_store
from watcher.webhooks import Dispatcher


async def test_endpoint_secret_once_ssrf_refusal_and_validation(
        api: TestClient, merchant: dict[str, str]) -> None:
    resp = await api.post("/v1/webhook_endpoints", headers=merchant,
                          json={"url": "http://127.0.0.1:9999/hook"})
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert (error["code"], error["param"]) == ("url_not_allowed", "url")
    bad = await api.post("/v1/webhook_endpoints", headers=merchant,
                         json={"url": "https://example.com/h", "event_types": ["payment.eaten"]})
    assert bad.status == 422
    assert (await bad.json())["error"]["param"].startswith("event_types")


async def test_events_are_listed_read_delivered_and_redelivered(pool: asyncpg.Pool) -> None:
    got: list[tuple[bytes, str]] = []

    async def hook(request: web.Request) -> web.Response:
        got.append((await request.read(), request.headers[SIGNATURE_HEADER]))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    receiver = TestServer(app)
    await receiver.start_server()
    headers, _store = await make_store(pool, "events-shop")
    try:
        async with api_client(pool, webhook_allow_private=True) as api:
            created = await (await api.post("/v1/webhook_endpoints", headers=headers, json={
                "url": str(receiver.make_url("/hook")),
                "event_types": ["payment.created"]})).json()
            secret = created["secret"]
            assert secret.startswith("whsec_")
            listed = await (await api.get("/v1/webhook_endpoints", headers=headers)).json()
            assert listed["data"][0]["secret"] is None  # shown once
            pay = await (await api.post("/v1/payments", headers=headers, json={
                "amount": "5", "currency": "USD", "asset": "SOL"})).json()
            async with aiohttp.ClientSession() as session:
                dispatcher = Dispatcher(pool, session, allow_private=True)
                assert await dispatcher.run_once() == 1
            body, signature = got[0]
            verify_signature(body, signature, secret)
            events = await (await api.get("/v1/events", headers=headers,
                                          params={"type": "payment.created"})).json()
            [event] = events["data"]
            assert event["payment_id"] == pay["id"]
            one = await (await api.get(f"/v1/events/{event['id']}", headers=headers)).json()
            assert [d["status"] for d in one["deliveries"]] == ["delivered"]
            again = await api.post(f"/v1/events/{event['id']}/redeliver", headers=headers)
            assert again.status == 200
            assert [d["status"] for d in (await again.json())["deliveries"]] == ["pending"]
            async with aiohttp.ClientSession() as session:
                assert await Dispatcher(pool, session, allow_private=True).run_once() == 1
            assert len(got) == 2
            assert got[0][0] == got[1][0]  # the same event, the same id: receivers dedupe
            gone = await api.delete(f"/v1/webhook_endpoints/{created['id']}", headers=headers)
            assert gone.status == 204
            assert (await api.delete(f"/v1/webhook_endpoints/{created['id']}",
                                     headers=headers)).status == 404
    finally:
        await receiver.close()
