"""Shared building blocks for request/response models: strictness, money, ids, timestamps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from paywatch.core.money import parse_fiat
from paywatch.core.objects import rfc3339
from paywatch.core.validation import solana_address

MAX_FIAT = Decimal("1000000000")  # a billion in any currency is not a checkout


def _no_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL: refuse it in any string, at any depth."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("strings may not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


class RequestModel(BaseModel):
    """Bodies: unknown fields and wrong types are errors, never silently dropped or coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        return _no_nul(data)


class QueryModel(BaseModel):
    """Query strings arrive as text, so values are converted; unknown parameters still fail."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def storable_time(value: datetime) -> datetime:
    """A time PostgreSQL can compare with: aware times are read in UTC, where 0001-01-01+14:00
    and 9999-12-31-14:00 fall outside the years Python (and so the driver) can represent."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is outside the years 0001 to 9999 in UTC") from None


# Times that arrive in query strings and cursors: refused with a 422 if they cannot be stored.
StoredTime = Annotated[datetime, AfterValidator(storable_time)]

# A sequence number cursor (bigint ids): 18 digits always fit PostgreSQL's int64, 19 may not.
SeqCursor = Annotated[str, Field(pattern=r"^[0-9]{1,18}$",
                                 description="next_cursor of the previous page")]


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _to_decimal(value: Any) -> Any:
    """Fiat from JSON: a decimal string ("12.50") or an exact JSON number; never a float, bool."""
    if isinstance(value, bool | float):
        raise ValueError("expected a decimal string such as \"12.50\"")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        return parse_fiat(value)
    return value


def _fiat_bounds(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if value < 0:
        raise ValueError("must not be negative")
    if value > MAX_FIAT:
        raise ValueError(f"must be at most {MAX_FIAT}")
    if value.as_tuple().exponent < -8:  # type: ignore[operator]
        raise ValueError("at most 8 decimal places")
    return value


FiatAmount = Annotated[
    Decimal,
    BeforeValidator(_to_decimal),
    AfterValidator(_fiat_bounds),
    PlainSerializer(lambda d: format(d, "f"), return_type=str),
    Field(json_schema_extra={"type": "string", "pattern": r"^[0-9]{1,15}(\.[0-9]{1,8})?$"}),
]

def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


# What a customer is asked to pay: zero is no payment. The schema says so too (`not` zero), so
# the document never allows a value the API refuses.
PositiveFiatAmount = Annotated[
    FiatAmount,
    AfterValidator(_positive),
    Field(json_schema_extra={"not": {"pattern": r"^0+(\.0+)?$"}}),
]


def _percent_bounds(value: Decimal) -> Decimal:
    if not Decimal(0) <= value <= Decimal(100):
        raise ValueError("must be between 0 and 100")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("at most 2 decimal places")
    return value


Percent = Annotated[
    Decimal,
    BeforeValidator(_to_decimal),
    AfterValidator(_percent_bounds),
    PlainSerializer(lambda d: format(d, "f"), return_type=str),
    Field(json_schema_extra={"type": "string", "pattern": r"^[0-9]{1,3}(\.[0-9]{1,2})?$"}),
]

Money = Annotated[Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str)]


def _currency(value: str) -> str:
    from paywatch.core.money import is_currency

    code = value.upper()
    if not is_currency(code):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


Currency = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(_currency)]

# Strict models take ids and URLs as JSON strings: these two are the only conversions allowed.
ObjectId = Annotated[uuid.UUID, Field(strict=False)]
HttpUrl = Annotated[AnyHttpUrl, Field(strict=False)]

SolanaAddress = Annotated[str, AfterValidator(solana_address)]

Metadata = Annotated[
    dict[str, str],
    Field(max_length=50, description="up to 50 string keys and values of your own"),
    AfterValidator(lambda m: _check_metadata(m)),
]


def _check_metadata(meta: dict[str, str]) -> dict[str, str]:
    for key, value in meta.items():
        if len(key) > 40 or len(value) > 500:
            raise ValueError("metadata keys are at most 40 characters, values at most 500")
    return meta


Timestamp = Annotated[datetime, PlainSerializer(rfc3339, return_type=str)]
OptionalTimestamp = Annotated[datetime | None, PlainSerializer(rfc3339, return_type=str | None)]

# Base units travel as decimal strings: JSON numbers lose precision beyond 2^53.
BaseUnits = Annotated[int, PlainSerializer(str, return_type=str)]


class ListResponse(ResponseModel):
    object: str = "list"
    has_more: bool
    next_cursor: str | None
