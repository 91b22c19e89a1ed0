"""Cursor pagination: newest first by (created_at, id); the cursor is opaque to clients."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from api.errors import ApiError
from api.models.common import storable_time

DEFAULT_LIMIT, MAX_LIMIT = 20, 100


def encode_cursor(created_at: datetime, object_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{object_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime | None, uuid.UUID | None]:
    if not cursor:
        return None, None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, object_id = raw.split("|")
        # A forged cursor may carry a time the database cannot compare with: same 422.
        return storable_time(datetime.fromisoformat(stamp)), uuid.UUID(object_id)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "parameter_invalid", "cursor is not one this API gave out",
                       param="cursor") from None
