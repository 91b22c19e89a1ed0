"""Database rows -> response models (one place, so every endpoint shows an object the same way)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from api.models.payments import Payment, PaymentRequest, Transfer
from paywatch.core.chains import ChainRegistry
from paywatch.core.chains import PaymentRequest as ChainRequest
from paywatch.core.money import fiat_shown, format_units


def public_link(public_url: str | None, path: str) -> str:
    """A customer-facing link: absolute under PAYWATCH_PUBLIC_URL (already normalized to no
    trailing slash) when it is set, a path on this server when not."""
    return f"{public_url}{path}" if public_url else path


def payment_request(row: Mapping[str, Any], public_url: str | None,
                    chains: ChainRegistry) -> PaymentRequest:
    """The request as the payment's chain describes it. A chain since removed from the
    configuration still shows its stored URL and recipient, under the type "unknown"."""
    adapter = chains.get(row["chain"])
    request = adapter.payment_request(row) if adapter is not None else ChainRequest(
        type="unknown", url=row["payment_url"], recipient=row["recipient"],
        reference=row["reference"], chain_id=None)
    return PaymentRequest(
        type=request.type, url=request.url, reference=request.reference,
        recipient=request.recipient, amount=row["amount_due"], asset_contract=row["mint"],
        chain_id=request.chain_id,
        qr_code_url=public_link(public_url, f"/v1/payments/{row['id']}/qr.svg"))


def payment_out(row: asyncpg.Record, transfers: Sequence[asyncpg.Record],
                public_url: str | None, chains: ChainRegistry) -> Payment:
    currency = row["currency"].strip()
    return Payment(
        id=str(row["id"]), status=row["status"], exception=row["exception"],
        order_id=str(row["order_id"]) if row["order_id"] else None,
        chain=row["chain"], asset=row["asset"], mint=row["mint"], decimals=row["decimals"],
        amount_due=row["amount_due"],
        amount_due_display=format_units(row["amount_due"], row["decimals"]),
        amount_received=row["amount_received"],
        amount_received_display=format_units(row["amount_received"], row["decimals"]),
        currency=currency, fiat_amount=fiat_shown(row["fiat_amount"], currency),
        fiat_amount_due=fiat_shown(row["fiat_amount_due"], currency),
        required_commitment=row["required_commitment"],
        payment_request=payment_request(row, public_url, chains),
        checkout_url=public_link(public_url, f"/pay/{row['id']}"),
        quote=row["quote"],
        transfers=[Transfer(**dict(t)) for t in transfers],
        label=row["label"], message=row["message"], memo=row["memo"],
        redirect_url=row["redirect_url"], metadata=row["metadata"],
        expires_at=row["expires_at"], monitor_until=row["monitor_until"],
        confirm_deadline_at=row["confirm_deadline_at"], created_at=row["created_at"],
        updated_at=row["updated_at"], detected_at=row["detected_at"],
        confirmed_at=row["confirmed_at"], closed_at=row["closed_at"],
    )
