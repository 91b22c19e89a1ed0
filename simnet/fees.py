"""Transaction fees as a bank charges them: 5000 lamports per signature plus the priority fee
(compute-unit price x compute-unit limit, in micro-lamports, rounded up). getFeeForMessage
answers with this; LiteSVM charges the same, which tests check."""

from __future__ import annotations

from typing import Any

from solders.pubkey import Pubkey

LAMPORTS_PER_SIGNATURE = 5000
COMPUTE_BUDGET = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
# Builtin programs get a default budget of 3,000 units per instruction, others 200,000.
BUILTINS = frozenset(Pubkey.from_string(k) for k in (
    "11111111111111111111111111111111", "ComputeBudget111111111111111111111111111111",
    "Vote111111111111111111111111111111111111111", "Config1111111111111111111111111111111111111",
    "BPFLoaderUpgradeab1e11111111111111111111111", "BPFLoader2111111111111111111111111111111111",
    "BPFLoader1111111111111111111111111111111111", "LoaderV411111111111111111111111111111111111",
    "AddressLookupTab1e1111111111111111111111111"))
BUILTIN_UNITS, DEFAULT_UNITS, MAX_UNITS = 3_000, 200_000, 1_400_000
SET_LIMIT, SET_PRICE = 2, 3  # ComputeBudgetInstruction tags


def fee_for(message: Any) -> int:
    keys = list(message.account_keys)
    limit: int | None = None
    price, default = 0, 0
    for ix in message.instructions:
        program, data = keys[ix.program_id_index], bytes(ix.data)
        if program == COMPUTE_BUDGET and data[:1] == bytes([SET_LIMIT]) and len(data) >= 5:
            limit = int.from_bytes(data[1:5], "little")
        elif program == COMPUTE_BUDGET and data[:1] == bytes([SET_PRICE]) and len(data) >= 9:
            price = int.from_bytes(data[1:9], "little")
        default += BUILTIN_UNITS if program in BUILTINS else DEFAULT_UNITS
    units = min(MAX_UNITS, default if limit is None else limit)
    priority = -(-price * units // 1_000_000)  # micro-lamports, rounded up to a lamport
    return message.header.num_required_signatures * LAMPORTS_PER_SIGNATURE + priority
