"""Small shared helpers: ids, timestamps, hashing, canonical JSON."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ulid import ULID


def new_id() -> str:
    """A ULID: unique, and sorts by creation time (keyset pagination relies on it)."""
    return str(ULID())


def iso(dt: datetime) -> str:
    """Fixed-width UTC ISO-8601 so string order equals time order in every backend."""
    return dt.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"  # "+00:00" -> "Z"; faster than strftime


def now_iso(offset_seconds: float = 0) -> str:
    return iso(datetime.now(UTC) + timedelta(seconds=offset_seconds))


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or offset); naive ones are taken as UTC."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()
