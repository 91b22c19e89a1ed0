""""Open" and "watched" are defined once, in paywatch/core/states.py: the SQL in db/ takes them
as parameters. A partial index's predicate must stay literal, so the two that filter on them
repeat the lists; this checks that they still agree."""

from __future__ import annotations

import re

import asyncpg
import pytest

from paywatch.core.states import OPEN_PAYMENT, PAYMENT_TRANSITIONS, WATCHED_PAYMENT

PREDICATE = """
SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1
"""


def statuses_in(predicate: str) -> set[str]:
    """The status list of a predicate as PostgreSQL prints it back:
    `status = ANY (ARRAY['pending'::text, ...])`."""
    found = re.search(r"status = ANY \(ARRAY\[([^\]]*)\]\)", predicate)
    assert found, predicate
    return set(re.findall(r"'([a-z_]+)'::text", found.group(1)))


@pytest.mark.parametrize(("index", "statuses"), [
    ("payments_open_idx", WATCHED_PAYMENT),           # the watchers' open-payment queries
    ("payments_shared_amount_uq", OPEN_PAYMENT),      # one open payment per shared amount
])
async def test_partial_indexes_mirror_the_status_definitions(
        pool: asyncpg.Pool, index: str, statuses: tuple[str, ...]) -> None:
    predicate = await pool.fetchval(PREDICATE, index)
    assert predicate is not None, f"{index} is gone or no longer partial"
    assert statuses_in(predicate) == set(statuses)


def test_watched_payments_are_those_a_transfer_may_still_confirm() -> None:
    assert set(WATCHED_PAYMENT) == set(PAYMENT_TRANSITIONS["confirmed"])
    assert set(OPEN_PAYMENT) < set(WATCHED_PAYMENT)
