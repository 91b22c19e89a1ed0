"""Call traces (debug_traceBlockByHash with the callTracer, in the shape anvil and geth answer)
parsed to internal transfers: which frames credit value, how they are numbered so they never
collide with a transaction's native or log transfers, and the garbage that is refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from watcher.evm.chain import (
    INTERNAL_BASE,
    SELFDESTRUCT_BASE,
    Block,
    parse_block,
    parse_logs,
    parse_traces,
)

FORWARDER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TO = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
OTHER = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
TX1, TX2 = "0x" + "01" * 32, "0x" + "02" * 32


def _block(*tx_ids: str) -> Block:
    return parse_block({
        "number": "0x10", "hash": "0x" + "ab" * 32, "parentHash": "0x" + "cd" * 32,
        "timestamp": "0x6553f100", "transactions": [
            {"hash": tx, "from": PAYER, "to": FORWARDER, "value": "0x5"} for tx in tx_ids]})


def _call(to: str, value: int | None, *calls: dict[str, Any], kind: str = "CALL",
          error: str | None = None, sender: str = FORWARDER) -> dict[str, Any]:
    frame: dict[str, Any] = {"from": sender.lower(), "to": to.lower(), "gas": "0x40a80",
                             "gasUsed": "0x0", "input": "0x", "type": kind}
    if value is not None:
        frame["value"] = hex(value)
    if calls:
        frame["calls"] = list(calls)
    if error is not None:
        frame |= {"error": error, "revertReason": "changed my mind"}
    return frame


def _tx(*calls: dict[str, Any], error: str | None = None,
        tx_hash: str | None = TX1) -> dict[str, Any]:
    entry: dict[str, Any] = {"result": _call(FORWARDER, 5, *calls, error=error, sender=PAYER)}
    if tx_hash is not None:
        entry["txHash"] = tx_hash
    return entry


def test_an_internal_call_with_value_is_a_transfer_and_the_top_level_frame_is_not() -> None:
    [seen] = parse_traces([_tx(_call(TO, 5))], _block(TX1))
    assert (seen.tx_id, seen.to, seen.sender, seen.amount) == (TX1, TO, FORWARDER, 5)
    assert seen.internal is True
    assert seen.contract is None
    assert seen.index == INTERNAL_BASE + 1  # the top-level frame is call 0
    assert (seen.block_number, seen.block_hash) == (16, "0x" + "ab" * 32)


def test_frames_are_numbered_depth_first_and_selfdestructs_apart() -> None:
    tree = _tx(_call(OTHER, 0, _call(TO, 1), _call(OTHER, None, kind="STATICCALL")),
               _call(TO, 2, kind="SELFDESTRUCT"),
               _call(TO, 3))
    seen = parse_traces([tree], _block(TX1))
    assert [(s.index - INTERNAL_BASE, s.amount) for s in seen] == [
        (2, 1), (SELFDESTRUCT_BASE - INTERNAL_BASE, 2), (4, 3)]
    # A node that does not report SELFDESTRUCT frames numbers the calls the same.
    without = _tx(_call(OTHER, 0, _call(TO, 1), _call(OTHER, None, kind="STATICCALL")),
                  _call(TO, 3))
    assert [s.index for s in parse_traces([without], _block(TX1))] == [
        seen[0].index, seen[2].index]


def test_internal_indexes_cannot_collide_with_native_or_log_indexes() -> None:
    log = {"address": FORWARDER.lower(), "blockHash": "0x" + "ab" * 32, "blockNumber": "0x10",
           "transactionHash": TX1, "topics": [
               "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
               "0x" + "0" * 24 + PAYER[2:].lower(), "0x" + "0" * 24 + TO[2:].lower()],
           "data": "0x" + f"{7:064x}"}
    [highest] = parse_logs([log | {"logIndex": hex(INTERNAL_BASE - 2)}])
    assert highest.index == INTERNAL_BASE - 1
    with pytest.raises(ValueError, match="out of range"):
        parse_logs([log | {"logIndex": hex(INTERNAL_BASE - 1)}])
    [internal] = parse_traces([_tx(_call(TO, 5))], _block(TX1))
    assert 0 < highest.index < internal.index < 2**31


def test_reverted_frames_and_everything_below_them_credit_nothing() -> None:
    # forwardTryCatch: the outer transaction succeeds, the sub-call that paid TO reverted.
    caught = _tx(_call(FORWARDER, 5, _call(TO, 5), error="execution reverted"),
                 _call(OTHER, 1))
    [seen] = parse_traces([caught], _block(TX1))
    assert (seen.to, seen.amount) == (OTHER, 1)
    assert seen.index == INTERNAL_BASE + 3  # numbering counts the reverted frames too
    # Deeper: the failed frame's grandchildren are undone as well.
    deep = _tx(_call(OTHER, 0, _call(OTHER, 0, _call(TO, 9)), error="out of gas"))
    assert parse_traces([deep], _block(TX1)) == []
    # The whole transaction reverted: its top-level frame carries the error.
    assert parse_traces([_tx(_call(TO, 5), error="execution reverted")], _block(TX1)) == []


def test_frames_that_move_no_value_credit_nothing() -> None:
    frames = [_call(TO, 5, kind=kind) for kind in
              ("DELEGATECALL", "STATICCALL", "CALLCODE", "SOMEFUTURECALL")]
    assert parse_traces([_tx(*frames), _tx(_call(TO, 0), tx_hash=TX2)],
                        _block(TX1, TX2)) == []
    created = parse_traces([_tx(_call(TO, 4, kind="CREATE2"))], _block(TX1))
    assert [(s.to, s.amount) for s in created] == [(TO, 4)]


def test_traces_follow_the_block_order_and_may_omit_tx_hashes() -> None:
    traces = [_tx(tx_hash=None), _tx(_call(TO, 8), tx_hash=None)]
    [seen] = parse_traces(traces, _block(TX1, TX2))
    assert seen.tx_id == TX2
    assert parse_traces([], _block()) == []


def test_calls_nested_as_deep_as_the_evm_allows_parse() -> None:
    frame = _call(TO, 1)
    for _ in range(1100):  # deeper than Python's recursion limit
        frame = _call(OTHER, 0, frame)
    [seen] = parse_traces([_tx(frame)], _block(TX1))
    assert seen.index == INTERNAL_BASE + 1101


def _garbage() -> list[tuple[Any, Block]]:
    good = [_tx(_call(TO, 5))]
    one = _block(TX1)

    def edited(change: Any) -> list[Any]:
        traces = copy.deepcopy(good)
        change(traces[0])
        return traces

    return [
        (None, one), ({"result": good[0]}, one), ("traces", one),
        ([], one),                                    # a trace missing
        (good + good, one),                           # one too many
        ([None], one), ([[]], one),
        (edited(lambda t: t.update(txHash=TX2)), one),      # another transaction's trace
        (edited(lambda t: t.update(txHash="0x12")), one),
        (edited(lambda t: t.update(error="tracer timed out")), one),
        (edited(lambda t: t.pop("result")), one),
        (edited(lambda t: t.update(result="ok")), one),
        (edited(lambda t: t["result"].update(calls={"a": 1})), one),
        (edited(lambda t: t["result"].pop("type")), one),
        (edited(lambda t: t["result"].update(error=True)), one),
        (edited(lambda t: t["result"]["calls"][0].update(value="5")), one),
        (edited(lambda t: t["result"]["calls"][0].update(value="0x" + "f" * 65)), one),
        (edited(lambda t: t["result"]["calls"][0].update(to="0x1234")), one),
        (edited(lambda t: t["result"]["calls"][0].pop("from")), one),
        (edited(lambda t: t["result"]["calls"][0].update(calls=[7])), one),
    ]


@pytest.mark.parametrize(("raw", "block"), _garbage())
def test_garbage_traces_are_refused(raw: Any, block: Block) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        parse_traces(raw, block)
