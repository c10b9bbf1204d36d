"""Opaque page tokens for keyset pagination (urlsafe base64 of a JSON list of key values)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any


def encode(*values: object) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str, length: int) -> list[Any]:
    """The key values of a token; ValueError for anything that is not one of ours."""
    padded = token + "=" * (-len(token) % 4)
    try:
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except Exception as exc:
        raise ValueError("malformed page token") from exc
    if not isinstance(values, list) or len(values) != length:
        raise ValueError("malformed page token")
    return values
