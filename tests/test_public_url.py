"""PAYWATCH_PUBLIC_URL: customer-facing links are absolute under it when set, paths when not."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from paywatch.core.settings import Settings, SettingsError, load_settings
from tests.conftest import api_client


async def create_payment(api: TestClient, headers: dict[str, str]) -> dict:
    resp = await api.post("/v1/payments", headers=headers,
                          json={"amount": "30.00", "currency": "USD", "asset": "SOL"})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_links_are_absolute_under_the_public_url(
        pool: asyncpg.Pool, merchant: dict[str, str]) -> None:
    async with api_client(pool, public_url="https://pay.example.com/shop/") as api:
        payment = await create_payment(api, merchant)
        fetched = await (await api.get(f"/v1/payments/{payment['id']}", headers=merchant)).json()
    pid = payment["id"]
    for out in (payment, fetched):
        assert out["checkout_url"] == f"https://pay.example.com/shop/pay/{pid}"
        assert out["payment_request"]["qr_code_url"] == \
            f"https://pay.example.com/shop/v1/payments/{pid}/qr.svg"
    event = await pool.fetchval("SELECT data FROM events WHERE type = 'payment.created'")
    assert event["object"]["checkout_url"] == f"https://pay.example.com/shop/pay/{pid}"


async def test_links_are_paths_without_a_public_url(
        api: TestClient, merchant: dict[str, str]) -> None:
    payment = await create_payment(api, merchant)
    assert payment["checkout_url"] == f"/pay/{payment['id']}"
    assert payment["payment_request"]["qr_code_url"] == f"/v1/payments/{payment['id']}/qr.svg"
    assert (await api.get(payment["checkout_url"])).status == 200


@pytest.mark.parametrize(("given", "kept"), [
    ("https://pay.example.com", "https://pay.example.com"),
    ("https://pay.example.com/", "https://pay.example.com"),
    ("http://127.0.0.1:8080//", "http://127.0.0.1:8080"),
    ("https://example.com/pay-base/", "https://example.com/pay-base"),
])
def test_the_public_url_is_normalized(given: str, kept: str) -> None:
    assert Settings(public_url=given, _env_file=None).public_url == kept


@pytest.mark.parametrize("bad", ["pay.example.com", "ftp://pay.example.com",
                                 "https://pay.example.com/?a=1", "https://pay.example.com/#x",
                                 "https://user:pw@pay.example.com", "https://"])
def test_a_public_url_that_is_not_a_base_url_is_refused(bad: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(public_url=bad, _env_file=None)
    assert err.value.lines[0].startswith("PAYWATCH_PUBLIC_URL: expected")
