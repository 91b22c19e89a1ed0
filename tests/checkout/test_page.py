"""The hosted checkout page: what each payment state tells the customer, the security headers,
404s, escaping, and that nothing private reaches the page or its event stream."""

from __future__ import annotations

import asyncio
import html
import json
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import markupsafe
import pytest
from aiohttp.test_utils import TestClient

from api.checkout.routes import CHECKOUT_HUB
from tests.conftest import api_client, make_store

STRICT_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


async def create_payment(api: TestClient, headers: dict[str, str], **extra: Any) -> dict:
    body = {"amount": "30.00", "currency": "USD", "asset": "SOL", **extra}
    resp = await api.post("/v1/payments", headers=headers, json=body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def set_state(pool: asyncpg.Pool, payment_id: str, status: str,
                    exception: str | None = None, received: int = 0,
                    expired: bool = False) -> None:
    """Put a payment in a state as the watcher and the sweeps would (tests of the page only)."""
    await pool.execute(
        """UPDATE payments SET status = $2, exception = $3, amount_received = $4::numeric,
               confirmed_at = CASE WHEN $2 = 'confirmed' THEN now() END,
               detected_at = CASE WHEN $4::numeric > 0 THEN now() END,
               created_at = CASE WHEN $5 THEN now() - interval '2 hours' ELSE created_at END,
               expires_at = CASE WHEN $5 THEN now() - interval '1 hour' ELSE expires_at END
           WHERE id = $1""",
        uuid.UUID(payment_id), status, exception, received, expired)


async def get_page(api: TestClient, payment_id: str) -> tuple[int, str, Any]:
    resp = await api.get(f"/pay/{payment_id}")
    return resp.status, await resp.text(), resp.headers


async def test_waiting_page_shows_what_to_pay_without_an_api_key(
        api: TestClient, merchant: dict[str, str]) -> None:
    payment = await create_payment(api, merchant, label="Shop", message="Order #1001")
    status, body, headers = await get_page(api, payment["id"])
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Waiting for your payment" in body
    assert ">Shop</p>" in body                                 # the store's name
    assert "Order #1001" in body                               # the request's message
    assert "30.00 USD" in body
    assert f'<span id="amount">{payment["amount_due_display"]}</span> SOL' in body
    assert html.escape(payment["payment_request"]["url"]) in body  # the wallet button
    assert f'href="{html.escape(payment["payment_request"]["url"])}"' in body
    assert f"/pay/{payment['id']}/qr.svg" in body
    assert payment["payment_request"]["recipient"] in body
    assert 'id="countdown"' in body
    assert "Time left to pay" in body
    assert 'role="status" aria-live="polite"' in body
    assert 'name="viewport"' in body
    # Without JavaScript the page reloads itself while the payment is open; with it, not.
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in body
    assert "discount" not in body.lower().replace("no discount", "")


async def test_headers_are_strict_and_forbid_framing_by_default(
        api: TestClient, merchant: dict[str, str]) -> None:
    payment = await create_payment(api, merchant)
    _status, _body, headers = await get_page(api, payment["id"])
    assert headers["Content-Security-Policy"] == STRICT_CSP
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


async def test_a_store_that_allows_framing_is_framed_by_its_own_origin_only(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    payment = await create_payment(api, merchant)
    await pool.execute("UPDATE stores SET allow_framing = true WHERE slug = 'shop'")
    _status, _body, headers = await get_page(api, payment["id"])
    assert headers["Content-Security-Policy"] == STRICT_CSP.replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'")
    assert headers["X-Frame-Options"] == "SAMEORIGIN"


async def test_the_page_inlines_nothing_the_csp_forbids(
        api: TestClient, merchant: dict[str, str]) -> None:
    payment = await create_payment(api, merchant)
    _status, body, _headers = await get_page(api, payment["id"])
    assert "<script>" not in body
    assert "<style" not in body
    assert " style=" not in body
    assert " on" + "click=" not in body
    assert "http://" not in body
    assert "https://" not in body
    for asset, kind in (("checkout.css", "text/css"), ("checkout.js", "text/javascript")):
        assert f"/checkout/static/{asset}?v=" in body
        resp = await api.get(f"/checkout/static/{asset}")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith(kind)
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert (await api.get("/checkout/static/nope.js")).status == 404


# A fixed unknown id (no payment exists in the test's fresh database): pytest-xdist's workers
# must collect the same test ids, which a uuid4() here would make differ.
@pytest.mark.parametrize("path", [
    "/pay/6f1b1c3e-8a43-4c1e-9d55-2b7f0a9e4c11", "/pay/not-a-uuid",
    "/pay/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/pay/00000000-0000-0000-0000-00000000000g",
])
async def test_unknown_or_malformed_ids_get_a_404_page(api: TestClient, path: str) -> None:
    resp = await api.get(path)
    body = await resp.text()
    assert resp.status == 404
    assert "Payment not found" in body
    assert "<script>alert" not in body
    assert resp.headers["Content-Security-Policy"] == STRICT_CSP
    for sub in ("/events", "/qr.svg"):
        assert (await api.get(path + sub)).status == 404


async def test_hostile_store_name_label_and_message_are_escaped(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "evil")
    hostile = '<script>alert("x")</script>'
    await pool.execute("UPDATE stores SET name = $2 WHERE id = $1", store["id"], hostile)
    payment = await create_payment(api, headers, label='"><img src=x onerror=alert(1)>')
    _status, body, _headers = await get_page(api, payment["id"])
    assert hostile not in body
    assert "<img src=x" not in body
    # Shown as text: escaped as the templates' autoescaping does (" as &#34;, not &quot;).
    assert markupsafe.escape(hostile) in body
    assert markupsafe.escape('"><img src=x onerror=alert(1)>') in body
    await set_state(pool, payment["id"], "cancelled")          # the name is in the detail too
    _status, body, _headers = await get_page(api, payment["id"])
    assert hostile not in body
    assert markupsafe.escape(hostile) in body


async def test_nothing_private_reaches_the_page_or_the_stream(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    payment = await create_payment(api, merchant, metadata={"crm": "private-note-1234"},
                                   memo="memo-5678")
    _status, body, _headers = await get_page(api, payment["id"])
    await set_state(pool, payment["id"], "cancelled")
    stream = await (await api.get(f"/pay/{payment['id']}/events")).text()
    for text in (body, stream):
        assert "private-note-1234" not in text
        assert "pw_live_" not in text
        assert merchant["Authorization"].split()[1] not in text
        assert str(payment["quote"]["price"]) not in text.replace("30.00", "")


def discount_store_client(pool: asyncpg.Pool) -> Any:
    # SOL at 150 USD against a fair value of 300: 50 % undervalued, so the top tier, 10 % off.
    return api_client(pool, static_prices={"SOL": "150"}, static_fair_values={"SOL": "300"})


async def test_the_cfv_discount_is_explained_in_one_line(
        pool: asyncpg.Pool, merchant: dict[str, str]) -> None:
    async with discount_store_client(pool) as api:
        payment = await create_payment(api, merchant)
        _status, body, _headers = await get_page(api, payment["id"])
    assert Decimal(payment["fiat_amount_due"]) == Decimal("27.00")
    assert "27.00 USD" in body
    assert ('Includes a 10 % crypto fair value discount (<s>30.00 USD</s>): SOL trades 50 % '
            'below its estimated fair value') in body


# state -> (what the database says, the headline, words the customer must read, payable)
STATES: dict[str, tuple[dict[str, Any], str, tuple[str, ...], bool]] = {
    "detected": ({"status": "detected", "received": 0},
                 "Payment detected", ("no need to pay again",), False),
    "confirmed": ({"status": "confirmed", "received": 1},
                  "Payment confirmed", ("Thank you!", "Shop has received your payment"), False),
    "underpaid": ({"status": "detected", "exception": "underpaid", "received": 1},
                  "Part of the amount arrived", ("Please send the remaining",), True),
    "expired": ({"status": "expired", "expired": True},
                "This payment request has expired",
                ("Do not send money to this request", "start the payment again"), False),
    "paid_late": ({"status": "expired", "exception": "paid_late", "received": 1,
                   "expired": True},
                  "Your payment arrived after the time ran out",
                  ("Do not pay again", "contact Shop", "refund"), False),
    "cancelled": ({"status": "cancelled"}, "This payment was cancelled",
                  ("Do not send money to it",), False),
    "invalid": ({"status": "invalid"}, "Your payment did not go through",
                ("Check your wallet",), False),
}


@pytest.mark.parametrize("state", list(STATES))
async def test_each_state_says_what_to_do(api: TestClient, merchant: dict[str, str],
                                          pool: asyncpg.Pool, state: str) -> None:
    payment = await create_payment(api, merchant)
    db_state, headline, words, payable = STATES[state]
    await set_state(pool, payment["id"], **db_state)
    status, body, _headers = await get_page(api, payment["id"])
    assert status == 200
    assert f'data-state="{state}"' in body
    assert f'<h1 id="status-headline">{headline}</h1>' in body
    for text in words:
        assert text in body
    assert ('id="pay"' in body) is payable
    assert ((await api.get(f"/pay/{payment['id']}/qr.svg")).status == 200) is payable
    open_ = db_state["status"] in ("pending", "detected")
    assert ('http-equiv="refresh"' in body) is open_


async def test_underpaid_asks_for_the_rest_with_the_same_reference(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    payment = await create_payment(api, merchant)
    due = int(payment["amount_due"])
    await set_state(pool, payment["id"], "detected", "underpaid", received=due - 1000)
    _status, body, _headers = await get_page(api, payment["id"])
    assert '<span id="amount">0.000001</span> SOL' in body
    assert "We received" in body
    assert "remaining 0.000001 SOL" in body
    assert f"reference={payment['payment_request']['reference']}" in body
    assert "amount=0.000001&amp;" in body


async def test_confirmed_with_a_redirect_url_takes_the_customer_back(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    payment = await create_payment(api, merchant,
                                   redirect_url="https://shop.example/thanks?order=1&x=2")
    await set_state(pool, payment["id"], "confirmed", received=int(payment["amount_due"]))
    _status, body, _headers = await get_page(api, payment["id"])
    url = html.escape("https://shop.example/thanks?order=1&x=2")
    assert f'<noscript><meta http-equiv="refresh" content="4;url={url}"></noscript>' in body
    assert f'href="{url}"' in body
    assert f'data-redirect-url="{url}"' in body
    assert "Taking you back to shop.example" in body


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "data:text/html,hi", "//evil.example",
                                 "https://evil.example/\"onmouseover=alert(1)"])
async def test_only_http_redirects_are_followed(api: TestClient, merchant: dict[str, str],
                                                pool: asyncpg.Pool, bad: str) -> None:
    payment = await create_payment(api, merchant)
    await pool.execute("UPDATE payments SET redirect_url = $2 WHERE id = $1",
                       uuid.UUID(payment["id"]), bad)
    await set_state(pool, payment["id"], "confirmed", received=int(payment["amount_due"]))
    _status, body, _headers = await get_page(api, payment["id"])
    assert "Payment confirmed" in body
    assert 'data-redirect-url=""' in body
    assert 'http-equiv="refresh"' not in body
    assert html.escape(bad) not in body
    assert "evil.example" not in body
    assert "Continue to the store" not in body


# ----- the event stream -----

def events_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: "):]) for line in text.splitlines()
            if line.startswith("data: ")]


async def test_the_stream_sends_the_state_then_each_change_and_ends_when_final(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    payment = await create_payment(api, merchant)
    resp = await api.get(f"/pay/{payment['id']}/events")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-store"
    first = await resp.content.readuntil(b"\n\n")
    assert first.startswith(b"retry: ")
    assert events_of(first.decode())[0]["state"] == "waiting"
    await set_state(pool, payment["id"], "detected", received=0)
    await set_state(pool, payment["id"], "confirmed", received=int(payment["amount_due"]))
    rest = events_of((await resp.content.read()).decode())   # read() returns at the end
    assert rest[-1]["state"] == "confirmed"
    assert rest[-1]["final"] is True
    assert set(rest[-1]) == {"state", "headline", "detail", "payable", "open", "final",
                             "seconds_left", "pay_amount", "received", "redirect_url"}


async def test_a_final_payment_streams_one_event_and_ends(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    payment = await create_payment(api, merchant)
    await set_state(pool, payment["id"], "cancelled")
    text = await (await api.get(f"/pay/{payment['id']}/events")).text()
    assert [e["state"] for e in events_of(text)] == ["cancelled"]


async def test_streams_beyond_the_limit_get_a_clear_503(
        api: TestClient, merchant: dict[str, str]) -> None:
    payment = await create_payment(api, merchant)
    api.server.app[CHECKOUT_HUB].max_streams = 1
    first = await api.get(f"/pay/{payment['id']}/events")
    await first.content.readuntil(b"\n\n")
    second = await api.get(f"/pay/{payment['id']}/events")
    assert second.status == 503
    assert second.headers["Retry-After"] == "30"
    assert "too many" in await second.text()
    first.close()


async def test_shutdown_ends_open_streams_at_once(
        api: TestClient, merchant: dict[str, str]) -> None:
    payment = await create_payment(api, merchant)
    resp = await api.get(f"/pay/{payment['id']}/events")
    await resp.content.readuntil(b"\n\n")
    hub = api.server.app[CHECKOUT_HUB]
    assert hub.streams == 1
    await hub.close()                         # what the app's on_shutdown does
    assert await resp.content.read() == b""   # the stream ended instead of idling on
    assert (await api.get(f"/pay/{payment['id']}/events")).status == 503


async def test_streams_survive_the_database_dropping_the_hubs_connection(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool) -> None:
    payment = await create_payment(api, merchant)
    resp = await api.get(f"/pay/{payment['id']}/events")
    await resp.content.readuntil(b"\n\n")
    killed = 0
    for _ in range(100):   # the hub connects in the background: wait (bounded) for it
        async with pool.acquire() as conn:   # as a database restart or an admin would
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        if killed:
            break
        await asyncio.sleep(0.05)
    assert killed >= 1
    await set_state(pool, payment["id"], "cancelled")
    rest = events_of((await resp.content.read()).decode())
    assert rest[-1]["state"] == "cancelled"
