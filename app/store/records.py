"""The record shape both backends share: plain dicts, every field present, in a fixed order."""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]


def shape(fields: tuple[str, ...], record: Record) -> Record:
    """Every field present, in order; unknown keys are a caller bug."""
    unknown = set(record) - set(fields)
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    return {f: record.get(f) for f in fields}
