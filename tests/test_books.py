"""The books: every transfer valued at its payment's quote and, by the valuation job, at the
market price when it was confirmed; exports of payments, transfers and refunds (columns and
values in CSV and JSON, streamed from a server-side cursor, store-scoped, bad input a 4xx,
the CLI's file); and the analytics summary net of refunds, equal to the exports' sums."""

from __future__ import annotations

import csv
import inspect
import io
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from db import exports
from paywatch.core import books
from paywatch.core.pricing import build_quote_service
from paywatch.core.settings import Settings
from paywatch.jobs import value_transfers
from tests.api.test_inbox import pay, unmatched
from tests.api.test_quotes_stores_analytics import operator_key
from tests.conftest import PAYWATCH, RECIPIENT, clean_env, make_store

CUSTOMER = "Cust1111111111111111111111111111111111111111"


@pytest.fixture
async def shop(pool: asyncpg.Pool) -> tuple[dict[str, str], Any]:
    headers, store = await make_store(pool, "books-shop")
    return headers, store["id"]


@pytest.fixture
async def quotes() -> AsyncIterator[Any]:
    async with aiohttp.ClientSession() as session:
        yield build_quote_service(Settings(_env_file=None), session)


def period() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"from": books.rfc3339(now - timedelta(days=1)) or "",
            "to": books.rfc3339(now + timedelta(days=1)) or ""}


async def paid(api: TestClient, pool: asyncpg.Pool, headers: dict[str, str], store_id: Any,
               amount: str = "30.00", **body: Any) -> tuple[dict[str, Any], int]:
    """A payment settled by its transfer (an inbox entry assigned to it: the normal rules)."""
    payment = await pay(api, headers, amount=amount, **body)
    entry = await unmatched(pool, store_id, int(payment["amount_due"]))
    resp = await api.post(f"/v1/transfers/{entry}/assign", headers=headers,
                          json={"payment_id": payment["id"]})
    assert resp.status == 200, await resp.text()
    return payment, entry


async def refund(pool: asyncpg.Pool, store_id: Any, payment: dict[str, Any], amount: int,
                 fiat: str, *, reason: str = "returned mug") -> Any:
    """A confirmed refund with the merchant's outgoing transfer, as the refunds module records
    them (rows inserted directly: that module is built elsewhere)."""
    refund_id = await pool.fetchval("""
        INSERT INTO refunds (store_id, payment_id, chain, asset, decimals, amount, currency,
            fiat_amount, rate, price, price_source, source, destination, destination_from,
            request_type, payment_url, reason, status, expires_at, created_by, confirmed_at)
        VALUES ($1, $2, 'solana', 'SOL', 9, $3, 'USD', $4::numeric, 'quote', 150, 'static', $5,
                $6, 'given', 'solana_pay', 'solana:x', $7, 'confirmed', now() + interval '1 h',
                'test', now())
        RETURNING id""", store_id, uuid.UUID(payment["id"]), amount, fiat, RECIPIENT,
        CUSTOMER, reason)
    await pool.execute("""
        INSERT INTO transfers (chain, tx_id, index, payment_id, asset, sender, recipient, amount,
            status, confirmed_at, direction, refund_id, store_id)
        VALUES ('solana', $1, 0, NULL, 'SOL', $2, $3, $4, 'confirmed', now(), 'out', $5, $6)""",
        f"refundtx{refund_id.hex}", RECIPIENT, CUSTOMER, amount, refund_id, store_id)
    return refund_id


# ----- valuation ----------------------------------------------------------------------------------

async def test_a_matched_transfer_is_valued_at_its_quote_and_then_at_the_market(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any],
        quotes: Any) -> None:
    headers, store_id = shop
    payment, entry = await paid(api, pool, headers, store_id)
    resp = await api.get(f"/v1/transfers/{entry}", headers=headers)
    shown = await resp.json()
    assert (shown["currency"], shown["fiat_at_quote"], shown["direction"]) == (
        "USD", "30.00", "in")
    assert (shown["fiat_at_confirmation"], shown["market_price"], shown["refund_id"]) == (
        None, None, None)

    assert await value_transfers(pool, quotes) == 1
    resp = await api.get(f"/v1/transfers/{entry}", headers=headers)
    shown = await resp.json()
    assert (shown["market_price"], shown["fiat_at_confirmation"]) == ("150", "30.00")
    row = await pool.fetchrow("SELECT * FROM transfers WHERE id = $1", entry)
    assert row["market_price_source"] == "static"
    assert row["market_price_at"] is not None
    # Idempotent: a second run (or a second process) changes nothing.
    assert await value_transfers(pool, quotes) == 0
    assert dict(await pool.fetchrow("SELECT * FROM transfers WHERE id = $1", entry)) == dict(row)
    # The payment embeds the same object.
    resp = await api.get(f"/v1/payments/{payment['id']}", headers=headers)
    assert (await resp.json())["transfers"][0]["fiat_at_confirmation"] == "30.00"


async def test_valuation_leaves_what_it_cannot_price_and_skips_what_is_not_confirmed(
        pool: asyncpg.Pool, shop: tuple[dict[str, str], Any], quotes: Any) -> None:
    _headers, store_id = shop
    inbox = await unmatched(pool, store_id, 1_000_000_000)  # 1 SOL, no payment
    processed = await unmatched(pool, store_id, 5, status="processed")
    reverted = await unmatched(pool, store_id, 6)
    await pool.execute("UPDATE transfers SET status = 'reverted', reverted_at = now() "
                       "WHERE id = $1", reverted)
    stale = await unmatched(pool, store_id, 7)
    await pool.execute("UPDATE transfers SET confirmed_at = now() - interval '2 hours' "
                       "WHERE id = $1", stale)

    async with aiohttp.ClientSession() as session:
        no_sol = build_quote_service(Settings(_env_file=None, static_prices={"USDC": "1"}),
                                     session)
        assert await value_transfers(pool, no_sol) == 0  # no price: left for the next run
    assert await pool.fetchval("SELECT count(*) FROM transfers WHERE market_price IS NOT NULL "
                               "OR currency IS NOT NULL") == 0

    assert await value_transfers(pool, quotes) == 1
    rows = {r["id"]: r for r in await pool.fetch("SELECT * FROM transfers")}
    # An inbox entry is valued in the store's default currency.
    assert (rows[inbox]["currency"].strip(), rows[inbox]["fiat_at_confirmation"]) == (
        "USD", Decimal("150.00000000"))
    assert rows[inbox]["fiat_at_quote"] is None  # it pays no payment: no quote
    for skipped in (processed, reverted, stale):
        assert rows[skipped]["market_price"] is None, skipped


async def test_an_outgoing_refund_is_valued_in_the_refunds_currency(
        api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any],
        quotes: Any) -> None:
    headers, store_id = shop
    payment, _entry = await paid(api, pool, headers, store_id)
    refund_id = await refund(pool, store_id, payment, 100_000_000, "15.00")
    assert await value_transfers(pool, quotes) == 2
    out = await pool.fetchrow("SELECT * FROM transfers WHERE refund_id = $1", refund_id)
    assert (out["direction"], out["currency"].strip(), out["fiat_at_confirmation"]) == (
        "out", "USD", Decimal("15.00000000"))


# ----- exports ------------------------------------------------------------------------------------

async def fetch(api: TestClient, headers: dict[str, str], kind: str,
                fmt: str) -> list[dict[str, str]]:
    resp = await api.get(f"/v1/exports/{kind}", headers=headers,
                         params={**period(), "format": fmt})
    assert resp.status == 200, await resp.text()
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="paywatch-{kind}-')
    assert disposition.endswith(f'.{fmt}"')
    text = await resp.text()
    assert text.isascii()
    names = [c.name for c in books.COLUMNS[kind]]
    if fmt == "csv":
        assert resp.headers["Content-Type"].startswith("text/csv")
        reader = csv.reader(io.StringIO(text))
        assert next(reader) == names
        return [dict(zip(names, line, strict=True)) for line in reader]
    loaded = json.loads(text)
    assert all(list(obj) == names for obj in loaded)
    # JSON says null where CSV is empty; otherwise the same strings.
    return [{k: "" if v is None else v for k, v in obj.items()} for obj in loaded]


@pytest.fixture
async def books_data(api: TestClient, pool: asyncpg.Pool, shop: tuple[dict[str, str], Any],
                     quotes: Any) -> dict[str, Any]:
    """A paid order, a paid payment partly refunded, a pending payment, and an inbox entry."""
    headers, store_id = shop
    resp = await api.post("/v1/orders", headers=headers, json={
        "customer": {"email": "ada@example.com", "name": "Ada"},
        "items": [{"sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "60.00"}],
        "currency": "USD"})
    order = await resp.json()
    assert resp.status == 201, order
    first, first_entry = await paid(api, pool, headers, store_id, order_id=order["id"],
                                    amount=None, currency=None)
    second, _ = await paid(api, pool, headers, store_id, amount="30.00")
    pending = await pay(api, headers, amount="90.00")
    inbox = await unmatched(pool, store_id, 50_000_000)
    refund_id = await refund(pool, store_id, second, 100_000_000, "15.00",
                             reason="=HYPERLINK(\"x\")")
    await value_transfers(pool, quotes)
    return {"order": order, "first": first, "first_entry": first_entry, "second": second,
            "pending": pending, "inbox": inbox, "refund_id": refund_id}


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_payments_export(api: TestClient, shop: tuple[dict[str, str], Any],
                               books_data: dict[str, Any], fmt: str) -> None:
    headers, _ = shop
    rows = {r["payment_id"]: r for r in await fetch(api, headers, "payments", fmt)}
    assert set(rows) == {books_data[k]["id"] for k in ("first", "second", "pending")}
    first = rows[books_data["first"]["id"]]
    tx = f"{first['tx_ids']}"
    assert first["order_number"] == books_data["order"]["number"]
    assert (first["chain"], first["asset"], first["asset_contract"]) == ("solana", "SOL", "")
    assert (first["amount_due"], first["amount_due_base_units"]) == ("0.4", "400000000")
    assert (first["amount_received"], first["amount_received_base_units"]) == (
        "0.4", "400000000")
    assert (first["currency"], first["fiat_amount"], first["fiat_due"]) == (
        "USD", "60.00", "60.00")
    assert (first["cfv_discount_percent"], first["quote_price"]) == ("0", "150")
    assert (first["fiat_received_at_quote"], first["fiat_received_at_confirmation"]) == (
        "60.00", "60.00")
    assert (first["status"], first["exception"]) == ("confirmed", "")
    assert first["explorer_url"] == f"https://explorer.solana.com/tx/{tx}"
    assert first["booked_at"] == first["confirmed_at"]
    assert first["booked_at"].endswith("Z")
    second = rows[books_data["second"]["id"]]
    assert (second["amount_refunded"], second["amount_refunded_base_units"],
            second["fiat_refunded"]) == ("0", "0", "15.00")  # amount_refunded: the refunds
    # module keeps it; this test inserted the refund directly
    pending = rows[books_data["pending"]["id"]]
    assert (pending["status"], pending["confirmed_at"], pending["tx_ids"],
            pending["explorer_url"]) == ("pending", "", "", "")
    assert pending["booked_at"] == pending["created_at"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_transfers_export(api: TestClient, shop: tuple[dict[str, str], Any],
                                books_data: dict[str, Any], fmt: str) -> None:
    headers, _ = shop
    rows = await fetch(api, headers, "transfers", fmt)
    by_id = {r["transfer_id"]: r for r in rows}
    assert len(rows) == 4  # two paid, the inbox entry, the refund sent
    first = by_id[str(books_data["first_entry"])]
    assert (first["direction"], first["payment_id"], first["matched_by"]) == (
        "in", books_data["first"]["id"], "assigned")
    assert (first["amount"], first["amount_base_units"], first["currency"]) == (
        "0.4", "400000000", "USD")
    assert (first["quote_price"], first["fiat_at_quote"], first["market_price"],
            first["market_price_source"], first["fiat_at_confirmation"]) == (
        "150", "60.00", "150", "static", "60.00")
    assert first["explorer_url"] == f"https://explorer.solana.com/tx/{first['tx_id']}"
    inbox = by_id[str(books_data["inbox"])]
    assert (inbox["payment_id"], inbox["exception"], inbox["amount"],
            inbox["fiat_at_quote"], inbox["fiat_at_confirmation"]) == (
        "", "no reference of ours", "0.05", "", "7.50")
    [out] = [r for r in rows if r["direction"] == "out"]
    assert (out["refund_id"], out["amount"], out["fiat_at_confirmation"]) == (
        str(books_data["refund_id"]), "0.1", "15.00")


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_refunds_export(api: TestClient, shop: tuple[dict[str, str], Any],
                              books_data: dict[str, Any], fmt: str) -> None:
    headers, _ = shop
    [row] = await fetch(api, headers, "refunds", fmt)
    assert (row["refund_id"], row["payment_id"]) == (
        str(books_data["refund_id"]), books_data["second"]["id"])
    assert (row["amount"], row["amount_base_units"], row["currency"], row["fiat_amount"],
            row["rate"], row["price"], row["status"], row["destination"]) == (
        "0.1", "100000000", "USD", "15.00", "quote", "150", "confirmed", CUSTOMER)
    assert row["fiat_at_confirmation"] == "15.00"
    assert row["tx_ids"] == f"refundtx{books_data['refund_id'].hex}"
    # Text someone typed never runs as a spreadsheet formula.
    assert row["reason"] == ("'" if fmt == "csv" else "") + "=HYPERLINK(\"x\")"


async def test_export_sums_equal_the_analytics_summary(
        api: TestClient, shop: tuple[dict[str, str], Any], books_data: dict[str, Any]) -> None:
    headers, _ = shop
    payments = await fetch(api, headers, "payments", "csv")
    refunds = await fetch(api, headers, "refunds", "csv")
    received = sum(Decimal(r["fiat_due"]) for r in payments if r["status"] == "confirmed")
    given = sum(Decimal(r["fiat_amount"]) for r in refunds if r["status"] == "confirmed")
    resp = await api.get("/v1/analytics/summary", headers=headers, params=period())
    summary = await resp.json()
    assert resp.status == 200, summary
    assert summary["gross_fiat_totals"] == {"USD": "90.00"}
    assert summary["refund_totals"] == {"USD": "15.00"}
    assert summary["fiat_totals"] == {"USD": "75.00"}
    assert Decimal(summary["gross_fiat_totals"]["USD"]) == received
    assert Decimal(summary["fiat_totals"]["USD"]) == received - given
    [line] = summary["refunds"]
    assert (line["asset"], line["refunds"], line["amount"], line["amount_display"],
            line["fiat"]) == ("SOL", 1, "100000000", "0.1", "15.00")


async def test_exports_are_store_scoped(api: TestClient, pool: asyncpg.Pool,
                                        books_data: dict[str, Any],
                                        other_merchant: dict[str, str]) -> None:
    for kind in books.KINDS:
        assert await fetch(api, other_merchant, kind, "json") == []


@pytest.mark.parametrize(("params", "status", "code"), [
    ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, 422, "parameter_invalid"),
    ({"from": "2026-11-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, 422, "parameter_invalid"),
    ({"from": "yesterday", "to": "2026-11-01T00:00:00Z"}, 422, "parameter_invalid"),
    ({"from": "2026-11-01T00:00:00", "to": "2026-11-02T00:00:00"}, 422, "parameter_invalid"),
    ({"from": "2000-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, 422, "parameter_invalid"),
    ({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", "format": "xlsx"}, 422,
     "parameter_invalid"),
    ({"to": "2026-11-02T00:00:00Z"}, 422, "parameter_missing"),
])
async def test_bad_export_parameters_are_4xx(api: TestClient, merchant: dict[str, str],
                                             params: dict[str, str], status: int,
                                             code: str) -> None:
    resp = await api.get("/v1/exports/payments", headers=merchant, params=params)
    body = await resp.json()
    assert resp.status == status, body
    assert body["error"]["code"] in (code, "parameter_invalid", "parameter_missing"), body
    assert body["error"]["message"]


async def test_export_kinds_and_keys(api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _ = await make_store(pool, "scoped", scopes=["orders:read"])
    full, _ = await make_store(pool, "full")
    resp = await api.get("/v1/exports/ledgers", headers=full, params=period())
    assert resp.status == 404
    assert "payments, transfers, refunds" in (await resp.text())
    resp = await api.get("/v1/exports/payments", headers=headers, params=period())
    assert resp.status == 403
    resp = await api.get("/v1/exports/payments", headers=await operator_key(pool),
                         params=period())
    assert (resp.status, (await resp.json())["error"]["code"]) == (403, "store_key_required")


async def test_the_export_reads_through_a_cursor_in_batches(
        pool: asyncpg.Pool, shop: tuple[dict[str, str], Any]) -> None:
    """Memory stays flat because rows come `batch` at a time from a server-side cursor (the
    bench, bench/exports.py, measures the process's peak RSS)."""
    _headers, store_id = shop
    for n in range(25):
        await unmatched(pool, store_id, 1000 + n)
    assert inspect.isasyncgenfunction(exports.rows)
    now = datetime.now(UTC)
    seen = 0
    async with pool.acquire() as conn:
        async for _row in exports.rows(conn, "transfers", store_id, now - timedelta(hours=1),
                                       now + timedelta(hours=1), batch=10):
            seen += 1
            if seen == 1:  # the rest is still on the server, behind an open portal
                assert await conn.fetchval(
                    "SELECT count(*) FROM pg_cursors WHERE name <> ''") == 1
        assert seen == 25
        assert await exports.count(conn, "transfers", store_id, now - timedelta(hours=1),
                                   now + timedelta(hours=1)) == 25


@pytest.mark.slow
async def test_cli_export_writes_the_same_file_as_the_api(
        api: TestClient, db_dsn: str, tmp_path: Path, shop: tuple[dict[str, str], Any],
        books_data: dict[str, Any], other_merchant: dict[str, str]) -> None:
    env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_DATA_DIR=str(tmp_path))

    def cli(*args: str) -> tuple[int, str]:
        with (tmp_path / "err.txt").open("w+", encoding="utf-8") as err:
            done = subprocess.run([PAYWATCH, *args], env=env, stdout=err, stderr=err,
                                  timeout=120, check=False)
            err.seek(0)
            return done.returncode, err.read()

    headers, _ = shop
    span = period()
    for kind, fmt in (("payments", "csv"), ("transfers", "json")):
        out = tmp_path / f"{kind}.{fmt}"
        code, err = cli("export", kind, "--from", span["from"], "--to", span["to"],
                        "--out", str(out), "--format", fmt, "--store", "books-shop")
        assert code == 0, err
        resp = await api.get(f"/v1/exports/{kind}", headers=headers,
                             params={**span, "format": fmt})
        assert out.read_bytes() == await resp.read()
        rows = len(await fetch(api, headers, kind, fmt))
        assert f"{rows}/{rows} rows" in err
        assert f"wrote {rows} {kind}" in err
        assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]
    code, err = cli("export", "payments", "--from", span["to"], "--to", span["from"],
                    "--out", str(tmp_path / "x.csv"))
    assert code == 2
    assert "from must be before to" in err
    code, err = cli("export", "refunds", "--from", span["from"], "--to", span["to"],
                    "--out", str(tmp_path / "r.csv"))  # two stores: which one?
    assert code == 1
    assert "give --store SLUG" in err
    code, err = cli("export", "refunds", "--from", span["from"], "--to", span["to"],
                    "--out", str(tmp_path / "r.csv"), "--store", "nope")
    assert code == 1
    assert "no store 'nope'" in err
    assert not (tmp_path / "r.csv").exists()


def test_the_readme_documents_every_export_column() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for kind, columns in books.COLUMNS.items():
        section = readme.split(f"Columns of `{kind}`:", 1)[1]
        for column in columns:
            assert f"| `{column.name}` | {column.doc} |" in section, (kind, column.name)
