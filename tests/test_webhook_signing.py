"""Signatures merchants can verify, SSRF refusal, the retry schedule."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from paywatch.core.ssrf import UnsafeUrl, check_url
from paywatch.core.webhooks import (
    WebhookVerificationError,
    new_secret,
    next_attempt,
    sign,
    verify_signature,
)

BODY = b'{"id": "evt_1", "type": "payment.confirmed"}'


def test_a_signature_verifies_and_anything_else_does_not() -> None:
    secret = new_secret()
    header = sign(secret, 1_800_000_000, BODY)
    verify_signature(BODY, header, secret, now=1_800_000_010)
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_signature(BODY, header, new_secret(), now=1_800_000_010)      # wrong secret
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_signature(BODY + b" ", header, secret, now=1_800_000_010)     # body changed
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_signature(BODY, header, secret, now=1_800_000_000 + 301)      # stale (replay)
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        verify_signature(BODY, "v1=abc", secret)
    forged = header.replace("t=1800000000", "t=1800000100")                  # moved timestamp
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify_signature(BODY, forged, secret, now=1_800_000_100)


def test_retry_schedule_backs_off_and_gives_up_after_three_days() -> None:
    first = datetime(2026, 11, 22, tzinfo=UTC)
    delays = []
    now, attempts = first, 1
    while (when := next_attempt(first, attempts, now)) is not None:
        delays.append(when - now)
        now, attempts = when, attempts + 1
    assert timedelta(seconds=8) <= delays[0] <= timedelta(seconds=12)
    assert all(b > a for a, b in itertools.pairwise(delays[:9]))
    assert max(delays) <= timedelta(hours=6) * 1.2
    assert now - first <= timedelta(days=3)
    assert 15 <= attempts <= 30


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook",
                                 "http://10.0.0.5/hook", "http://169.254.169.254/latest",
                                 "http://[::1]/hook", "http://192.168.1.1/",
                                 "http://[::ffff:127.0.0.1]/"])
async def test_private_targets_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl, match="private, loopback or link-local"):
        await check_url(url, allow_private=False)
    await check_url(url, allow_private=True)  # the operator may allow them


@pytest.mark.parametrize("url", ["ftp://example.com/", "http://user:pw@example.com/",
                                 "http:///nohost", "http://\u00ef\u00ca\u0098j/"])
async def test_malformed_webhook_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        await check_url(url, allow_private="\u00ef" not in url)


async def test_a_public_address_is_accepted() -> None:
    await check_url("http://93.184.215.14/hook", allow_private=False)
