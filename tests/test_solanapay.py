"""Solana Pay transfer request URLs, built and parsed back field by field."""

from __future__ import annotations

import pytest

from paywatch.solanapay import (
    SolanaPayError,
    UrlTooLong,
    build_transfer_url,
    parse_transfer_url,
)

RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
REF1 = "82ZJ7nbGpixjeDCmEhUcmwXYfvurzAgGdtSMuHnUgyny"
REF2 = "Fp3m2PGqS4VkfCxtCMdchzL8Pc1vGt9VC5bxdSrTjrqt"


def test_spl_transfer_with_every_field() -> None:
    url = build_transfer_url(recipient=RECIPIENT, amount_base_units=1_010_000, decimals=6,
                             spl_token=MINT, references=[REF1, REF2], label="Michael's café",
                             message="Thanks for all the fish 🐟", memo="OrderId 12345")
    assert url == (
        f"solana:{RECIPIENT}?amount=1.01&spl-token={MINT}&reference={REF1}&reference={REF2}"
        "&label=Michael%27s%20caf%C3%A9&message=Thanks%20for%20all%20the%20fish%20%F0%9F%90%9F"
        "&memo=OrderId%2012345")
    parsed = parse_transfer_url(url)
    assert parsed.recipient == RECIPIENT
    assert parsed.amount == "1.01"
    assert parsed.spl_token == MINT
    assert parsed.references == [REF1, REF2]
    assert parsed.label == "Michael's café"
    assert parsed.message == "Thanks for all the fish 🐟"
    assert parsed.memo == "OrderId 12345"


def test_minimal_sol_request() -> None:
    url = build_transfer_url(recipient=RECIPIENT, amount_base_units=1, decimals=9,
                             spl_token=None, references=[])
    assert url == f"solana:{RECIPIENT}?amount=0.000000001"
    assert build_transfer_url(recipient=RECIPIENT, amount_base_units=None, decimals=9,
                              spl_token=None, references=[]) == f"solana:{RECIPIENT}"


def test_a_url_over_2048_characters_is_refused_naming_the_field() -> None:
    with pytest.raises(UrlTooLong) as err:
        build_transfer_url(recipient=RECIPIENT, amount_base_units=1, decimals=9,
                           spl_token=None, references=[REF1], label="shop",
                           message="é" * 400)
    assert err.value.field == "message"
    assert err.value.length > 2048


@pytest.mark.parametrize(("url", "problem"), [
    ("bitcoin:abc", "starts with 'solana:'"),
    ("solana:notakey", "recipient"),
    (f"solana:{RECIPIENT}?amount=1e3", "amount"),
    (f"solana:{RECIPIENT}?amount=-1", "amount"),
    (f"solana:{RECIPIENT}?amount=.5", "amount"),
    (f"solana:{RECIPIENT}?reference=xyz", "reference"),
    (f"solana:{RECIPIENT}?spl-token=0OIl", "spl-token"),
    (f"solana:{RECIPIENT}?amount=1&amount=2", "more than once"),
])
def test_malformed_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(SolanaPayError, match=problem):
        parse_transfer_url(url)


def test_invalid_keys_are_refused_when_building() -> None:
    with pytest.raises(ValueError, match="base58"):
        build_transfer_url(recipient="not-a-key", amount_base_units=1, decimals=9,
                           spl_token=None, references=[])
