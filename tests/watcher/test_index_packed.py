"""The packed store behind the reference index: what goes in comes out the same, closed
payments leave (by id, by reference, or by not being read again by a reload), unique amounts
keep their rule, and the tables stay right through growth and churn."""

from __future__ import annotations

import random
import uuid

from solders.pubkey import Pubkey

from watcher.solana.matcher import OpenPayment
from watcher.solana.packed import PackedPayments

WALLET = str(Pubkey.new_unique())
MINT = str(Pubkey.new_unique())


def ref() -> str:
    return str(Pubkey.new_unique())


def test_a_payment_comes_back_as_it_went_in() -> None:
    packed = PackedPayments()
    reference, pid = ref(), uuid.uuid4()
    packed.put(reference, pid, (WALLET, "USDC", MINT), "ORD-1", 1_500_001, True)
    assert packed.get(reference) == OpenPayment(pid, reference, WALLET, "USDC", MINT, "ORD-1",
                                                1_500_001)
    assert packed.get(ref()) is None
    assert packed.get("not base58 0OIl") is None
    assert len(packed) == 1


def test_a_reference_that_is_no_public_key_still_works() -> None:
    packed = PackedPayments()
    pid = uuid.uuid4()
    packed.put("bench000000000001", pid, (WALLET, "SOL", None), None, None, True)
    assert packed.get("bench000000000001") == OpenPayment(pid, "bench000000000001", WALLET,
                                                          "SOL", None, None)
    assert list(packed.references()) == ["bench000000000001"]
    assert packed.remove_id(pid)
    assert packed.get("bench000000000001") is None
    assert len(packed) == 0


def test_re_indexing_replaces_the_row() -> None:
    packed = PackedPayments()
    reference, pid = ref(), uuid.uuid4()
    packed.put(reference, pid, (WALLET, "SOL", None), "a", 5, True)
    packed.put(reference, pid, (WALLET, "SOL", None), None, None, False)
    assert packed.get(reference) == OpenPayment(pid, reference, WALLET, "SOL", None, None)
    assert packed.get_by_amount(WALLET, None, 5) is None
    assert len(packed) == 1


def test_unique_amounts_prefer_the_open_payment_and_leave_with_it() -> None:
    packed = PackedPayments()
    expired, open_ = (ref(), uuid.uuid4()), (ref(), uuid.uuid4())
    packed.put(open_[0], open_[1], (WALLET, "USDC", MINT), None, 42, True)
    packed.put(expired[0], expired[1], (WALLET, "USDC", MINT), None, 42, False)
    found = packed.get_by_amount(WALLET, MINT, 42)
    assert found is not None
    assert (found.id, found.reference) == (open_[1], open_[0])
    assert packed.get_by_amount(WALLET, None, 42) is None
    assert packed.remove_id(open_[1])
    assert packed.get_by_amount(WALLET, MINT, 42) is None  # as before: no fallback
    assert packed.get(expired[0]) is not None


def test_a_reload_drops_what_it_did_not_read() -> None:
    packed = PackedPayments()
    kept, closed, learned = ref(), ref(), ref()
    for reference in (kept, closed):
        packed.put(reference, uuid.uuid4(), (WALLET, "SOL", None), None, None, True)
    packed.begin_reload()
    packed.put(kept, packed.get(kept).id, (WALLET, "SOL", None), None, None, True)  # type: ignore[union-attr]
    packed.put(learned, uuid.uuid4(), (WALLET, "SOL", None), None, None, True)  # meanwhile
    assert packed.end_reload() == 1
    assert packed.get(closed) is None
    assert packed.get(kept) is not None
    assert packed.get(learned) is not None


def test_the_tables_stay_right_through_growth_and_churn() -> None:
    rng = random.Random(20)
    packed = PackedPayments()
    model: dict[str, uuid.UUID] = {}
    for step in range(20_000):
        if model and rng.random() < 0.4:
            reference = rng.choice(list(model)) if step % 50 == 0 else next(iter(model))
            pid = model.pop(reference)
            assert packed.remove_id(pid) if step % 2 else packed.remove_reference(reference)
        else:
            reference = ref() if step % 97 else f"odd-{step}"
            model[reference] = uuid.uuid4()
            packed.put(reference, model[reference], (WALLET, "SOL", None), None, None, True)
    assert len(packed) == len(model)
    assert sorted(packed.references()) == sorted(model)
    for reference, pid in model.items():
        found = packed.get(reference)
        assert found is not None
        assert found.id == pid
    assert packed.nbytes() < 200 * len(model) + 100_000


def test_one_payment_under_a_new_reference_keeps_one_entry() -> None:
    packed = PackedPayments()
    pid, first, second = uuid.uuid4(), ref(), ref()
    packed.put(first, pid, (WALLET, "SOL", None), None, None, True)
    packed.put(second, pid, (WALLET, "SOL", None), None, None, True)
    assert packed.get(first) is None
    assert packed.get(second) is not None
    assert len(packed) == 1
