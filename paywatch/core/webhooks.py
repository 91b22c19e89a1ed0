"""Webhook signatures and retry schedule.

Each delivery carries `Paywatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` computed with
the endpoint's secret over `f"{t}.{body}"`. `verify_signature` is the function merchants copy
(the README shows it): constant-time comparison, and a timestamp tolerance against replays."""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import time
from datetime import datetime, timedelta

SIGNATURE_HEADER = "Paywatch-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
GIVE_UP_AFTER = timedelta(days=3)
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(hours=6)


class WebhookVerificationError(ValueError):
    pass


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(body: bytes, header: str, secret: str, tolerance_s: int = 300,
                     now: float | None = None) -> None:
    """Raise WebhookVerificationError unless `header` signs `body` with `secret`, recently."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        raise WebhookVerificationError("no timestamp in the signature header") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        raise WebhookVerificationError("timestamp outside the tolerance: possible replay")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    given = [v for k, v in (p.split("=", 1) for p in header.split(",") if "=" in p)
             if k == "v1"]
    if not any(hmac.compare_digest(expected, v) for v in given):
        raise WebhookVerificationError("signature mismatch")


def next_attempt(first_try: datetime, attempts: int, now: datetime) -> datetime | None:
    """Exponential backoff with jitter (10 s, 20 s, 40 s ... up to 6 h apart); None once the
    next try would fall beyond three days after the first."""
    delay = min(FIRST_RETRY * 2 ** max(0, attempts - 1), MAX_RETRY)
    when = now + delay * random.uniform(0.8, 1.2)
    return None if when - first_try > GIVE_UP_AFTER else when
