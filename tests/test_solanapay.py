"""Solana Pay transfer request URLs, built to the spec and parsed back field by field."""

from __future__ import annotations

import pytest
from solders.pubkey import Pubkey

from paywatch.core.solanapay import (
    MAX_URL_LENGTH,
    SolanaPayError,
    TransferRequest,
    UrlTooLong,
    build_transfer_url,
    parse_transfer_url,
)

RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
REF1 = "82ZJ7nbGpixjeDCmEhUcmwXYfvurzAgGdtSMuHnUgyny"
REF2 = "Fp3m2PGqS4VkfCxtCMdchzL8Pc1vGt9VC5bxdSrTjrqt"


def test_spl_transfer_with_every_field() -> None:
    # the spec's own example: 1.01 USDC, two references, a label, message and memo
    url = build_transfer_url(recipient=RECIPIENT, amount_base_units=1_010_000, decimals=6,
                             spl_token=MINT, references=[REF1, REF2], label="Michael",
                             message="Thanks for all the fish", memo="OrderId12345")
    assert url == (
        f"solana:{RECIPIENT}?amount=1.01&spl-token={MINT}&reference={REF1}&reference={REF2}"
        "&label=Michael&message=Thanks%20for%20all%20the%20fish&memo=OrderId12345")
    assert parse_transfer_url(url) == TransferRequest(
        recipient=RECIPIENT, amount="1.01", spl_token=MINT, references=[REF1, REF2],
        label="Michael", message="Thanks for all the fish", memo="OrderId12345")


def test_unicode_and_reserved_characters_are_percent_encoded() -> None:
    url = build_transfer_url(recipient=Pubkey.from_string(RECIPIENT), amount_base_units=1,
                             decimals=9, spl_token=None, references=[Pubkey.from_string(REF1)],
                             label="Michael's café", message="Fish 🐟 & chips = 2+2 #1 50%",
                             memo="订单 12345/a?b")
    assert url == (
        f"solana:{RECIPIENT}?amount=0.000000001&reference={REF1}"
        "&label=Michael%27s%20caf%C3%A9"
        "&message=Fish%20%F0%9F%90%9F%20%26%20chips%20%3D%202%2B2%20%231%2050%25"
        "&memo=%E8%AE%A2%E5%8D%95%2012345%2Fa%3Fb")
    parsed = parse_transfer_url(url)
    assert parsed.label == "Michael's café"
    assert parsed.message == "Fish 🐟 & chips = 2+2 #1 50%"
    assert parsed.memo == "订单 12345/a?b"
    assert parsed.references == [REF1]
    assert parsed.amount_units(9) == 1


@pytest.mark.parametrize(("units", "decimals", "amount"), [
    (1, 9, "0.000000001"), (1_500_000_000, 9, "1.5"), (10**9, 9, "1"), (0, 9, "0"),
    (19_990_000, 6, "19.99"), (123, 0, "123"),
])
def test_amount_is_in_user_units_without_trailing_zeros(units: int, decimals: int,
                                                        amount: str) -> None:
    url = build_transfer_url(recipient=RECIPIENT, amount_base_units=units, decimals=decimals,
                             spl_token=None, references=[])
    assert url == f"solana:{RECIPIENT}?amount={amount}"
    parsed = parse_transfer_url(url)
    assert parsed.amount == amount
    assert parsed.amount_units(decimals) == units


def test_minimal_request_without_amount() -> None:
    url = build_transfer_url(recipient=RECIPIENT, amount_base_units=None, decimals=9,
                             spl_token=None, references=[], label="", memo=None)
    assert url == f"solana:{RECIPIENT}"
    assert parse_transfer_url(url) == TransferRequest(recipient=RECIPIENT)


def test_a_url_over_2048_characters_is_refused_naming_the_field() -> None:
    with pytest.raises(UrlTooLong) as err:
        build_transfer_url(recipient=RECIPIENT, amount_base_units=1, decimals=9,
                           spl_token=None, references=[REF1], label="shop",
                           message="é" * 400)  # 400 x "%C3%A9" = 2400 characters
    assert err.value.field == "message"
    assert err.value.length > MAX_URL_LENGTH
    assert "shorten message" in str(err.value)
    with pytest.raises(UrlTooLong) as err:
        build_transfer_url(recipient=RECIPIENT, amount_base_units=1, decimals=9,
                           spl_token=None, references=[REF1] * 50)
    assert err.value.field == "reference"


def test_exactly_2048_characters_is_allowed() -> None:
    base = build_transfer_url(recipient=RECIPIENT, amount_base_units=1, decimals=9,
                              spl_token=None, references=[], memo="x")
    memo = "x" * (MAX_URL_LENGTH - len(base) + 1)
    url = build_transfer_url(recipient=RECIPIENT, amount_base_units=1, decimals=9,
                             spl_token=None, references=[], memo=memo)
    assert len(url) == MAX_URL_LENGTH
    assert parse_transfer_url(url).memo == memo
    with pytest.raises(UrlTooLong):
        parse_transfer_url(url + "x")


def test_parsing_follows_the_reference_parser() -> None:
    # scheme in any case (QR alphanumeric mode is upper case), fragment ignored, unknown
    # parameters ignored, "+" read as a space (URLSearchParams does), empty texts absent
    url = f"SOLANA:{RECIPIENT}?amount=01.50&foo=bar&label=a+b&message=&memo=#frag"
    parsed = parse_transfer_url(url)
    assert parsed == TransferRequest(recipient=RECIPIENT, amount="01.50", label="a b")
    assert parsed.amount_units(9) == 1_500_000_000
    assert str(parsed.amount_decimal) == "1.50"


def test_more_decimals_than_the_token_has_is_malformed() -> None:
    parsed = parse_transfer_url(f"solana:{RECIPIENT}?amount=1.0000001&spl-token={MINT}")
    assert parsed.amount == "1.0000001"
    with pytest.raises(SolanaPayError, match="more than 6 decimal places"):
        parsed.amount_units(6)
    assert parsed.amount_units(9) == 1_000_000_100


@pytest.mark.parametrize(("url", "problem"), [
    ("bitcoin:abc", "starts with 'solana:'"),
    ("solana:notakey", "recipient"),
    ("solana:", "recipient"),
    ("solana:https%3A%2F%2Fexample.com%2Fpay", "transaction request"),
    ("solana:https://example.com/pay", "transaction request"),
    (f"solana:{RECIPIENT}?amount=1e3", "amount"),
    (f"solana:{RECIPIENT}?amount=-1", "amount"),
    (f"solana:{RECIPIENT}?amount=.5", "amount"),
    (f"solana:{RECIPIENT}?amount=1.", "amount"),
    (f"solana:{RECIPIENT}?amount=", "amount"),
    (f"solana:{RECIPIENT}?amount=NaN", "amount"),
    (f"solana:{RECIPIENT}?amount=%D9%A1", "amount"),  # an Arabic-Indic one
    (f"solana:{RECIPIENT}?amount=1&amount=2", "amount appears more than once"),
    (f"solana:{RECIPIENT}?label=a&label=b", "label appears more than once"),
    (f"solana:{RECIPIENT}?reference=xyz", "reference"),
    (f"solana:{RECIPIENT}?reference={REF1}&reference=", "reference"),
    (f"solana:{RECIPIENT}?spl-token=0OIl", "spl-token"),
    (f"solana:{RECIPIENT}?label=%FF", "malformed query"),  # not UTF-8
    (f"solana:{RECIPIENT}?label", "malformed query"),
    (f"solana:{RECIPIENT}?memo=" + "a" * 2048, "limit is 2048"),
])
def test_malformed_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(SolanaPayError, match=problem):
        parse_transfer_url(url)


def test_invalid_values_are_refused_when_building() -> None:
    with pytest.raises(ValueError, match="base58"):
        build_transfer_url(recipient="not-a-key", amount_base_units=1, decimals=9,
                           spl_token=None, references=[])
    with pytest.raises(ValueError, match="base58"):
        build_transfer_url(recipient=RECIPIENT, amount_base_units=1, decimals=9,
                           spl_token=None, references=["0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl"])
    with pytest.raises(ValueError, match="negative"):
        build_transfer_url(recipient=RECIPIENT, amount_base_units=-1, decimals=9,
                           spl_token=None, references=[])
    with pytest.raises(SolanaPayError, match="memo is not valid Unicode"):
        build_transfer_url(recipient=RECIPIENT, amount_base_units=1, decimals=9,
                           spl_token=None, references=[], memo="\ud800")
