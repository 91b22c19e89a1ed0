"""The README's inbox lines, run as printed against a real `paywatch run` whose store has two
unmatched transfers waiting: the first is assigned (its payment confirms), the next dismissed."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import urllib.request
import uuid
from pathlib import Path

from db.pool import create_pool
from paywatch.services import transfers
from tests.conftest import PAYWATCH, RECIPIENT, ROOT, clean_env
from tests.test_daemon import start, stop, wait_ready
from tests.test_readme import json_answers

SECTION = "## The inbox: money that matched nothing"


def inbox_block() -> str:
    text = (Path(ROOT) / "README.md").read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", 1)]
    [block] = re.findall(r"```sh\n(.*?)```", section, re.S)
    return str(block)


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([PAYWATCH, *args], env=env, capture_output=True, text=True,
                          timeout=60, check=True).stdout


async def seed(dsn: str, amounts: list[int]) -> None:
    """Unmatched SOL transfers into the store's wallet, oldest first, as the watcher records."""
    pool = await create_pool(dsn, min_size=1, max_size=1)  # with the JSON codecs
    async with pool.acquire() as conn:
        store_id = await conn.fetchval("SELECT id FROM stores WHERE slug = 'inbox-shop'")
        for n, amount in enumerate(amounts):
            async with conn.transaction():
                await transfers.record(conn, {
                    "chain": "solana", "tx_id": f"readme-{n}", "index": 0, "store_id": store_id,
                    "asset": "SOL", "recipient": RECIPIENT, "amount": amount, "slot": 10 + n,
                    "status": "finalized", "unmatched_reason": "no reference of ours"})
    await pool.close()


def create_payment(base: str, key: str) -> str:
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base}/v1/payments", method="POST",
        data=json.dumps({"amount": "30.00", "currency": "USD", "asset": "SOL"}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - our own server
        payment = json.load(resp)
    assert payment["amount_due"] == "200000000"
    return str(payment["id"])


def test_the_readme_inbox_lines_run_as_printed(db_dsn: str, tmp_path: Path) -> None:
    env = clean_env(PAYWATCH_DATABASE_URL=db_dsn, PAYWATCH_SOLANA_WATCH="false")
    cli(env, "stores", "create", "Inbox Shop", "--solana-recipient", RECIPIENT)
    key = cli(env, "keys", "create", "--store", "inbox-shop").splitlines()[0]
    asyncio.run(seed(db_dsn, [5_000_000, 200_000_000]))  # a top-up, then the customer's
    proc, base = start(env, tmp_path)
    try:
        wait_ready(base, proc)
        payment_id = create_payment(base, key)
        out, trace = tmp_path / "inbox.out", tmp_path / "inbox.trace"
        with out.open("w") as sink, trace.open("w") as trace_sink:
            done = subprocess.run(["bash", "-c", "set -euxo pipefail\n" + inbox_block()],
                                  env={**env, "PW": base, "KEY": key,
                                       "PAYMENT_ID": payment_id},
                                  cwd=tmp_path, stdout=sink, stderr=trace_sink, timeout=60,
                                  check=False)
        text = out.read_text()
        assert done.returncode == 0, text[-2000:] + trace.read_text()[-3000:]
    finally:
        stop(proc, timeout=30)
    listed, assigned, payment, dismissed, everything = json_answers(text)[0]
    assert [t["amount"] for t in listed["data"]] == ["200000000", "5000000"]
    assert (assigned["resolution"], assigned["payment_id"]) == ("assigned", payment_id)
    assert (payment["status"], payment["amount_received"]) == ("confirmed", "200000000")
    assert uuid.UUID(payment["transfers"][0]["payment_id"]) == uuid.UUID(payment_id)
    assert (dismissed["resolution"], dismissed["resolution_note"]) == (
        "dismissed", "our own top-up")
    assert [t["resolution"] for t in everything["data"]] == ["assigned", "dismissed"]
