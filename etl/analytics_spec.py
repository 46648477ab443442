"""What checking a summary's or time series' arguments needs, without DuckDB and pyarrow.

Why a module of its own: the API checks every analytics request's arguments
(``split_by``, ``interval``, ``tz``) before it knows whether it computes the
result or hands it to the ``analytics`` queue (:mod:`app.analytics.service`).
Importing :mod:`etl.analytics` for that loaded DuckDB and pyarrow into every
API worker that ever answered a summary, ~35 MB each under one ``MemoryMax``
(docs/benchmarks.md, "Bounded"), even when the worker computed nothing. The
field kinds and the intervals are plain Python; the time-zone list is
DuckDB's own (its ICU buckets by it), so only a time series' check imports
DuckDB, and never pyarrow. :mod:`etl.analytics` re-exports all of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

Record = dict[str, Any]
INTERVALS = ("day", "week", "month")


def _json_type(prop: Record) -> str | None:
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None


def field_kind(prop: Record) -> str:
    """enum | boolean | array | nps | number | date | datetime | string, from a JSON Schema property.

    An integer from 0 to 10 reads as an NPS question; anything the other kinds
    do not cover (objects, untyped) is summarised as strings of its JSON.
    """
    kind = _json_type(prop)
    if "enum" in prop:
        return "enum"
    if kind == "boolean":
        return "boolean"
    if kind == "array":
        return "array"
    if kind == "integer" and prop.get("minimum") == 0 and prop.get("maximum") == 10:
        return "nps"
    if kind in {"integer", "number"}:
        return "number"
    if kind == "string" and prop.get("format") == "date":
        return "date"
    if kind == "string" and prop.get("format") == "date-time":
        return "datetime"
    return "string"


def field_kinds(schema: Record) -> dict[str, str]:
    return {name: field_kind(prop if isinstance(prop, dict) else {})
            for name, prop in (schema.get("properties") or {}).items()}


def splittable(schema: Record, name: str) -> bool:
    """Only fields with a closed set of values make groups: enums and booleans."""
    return field_kinds(schema).get(name) in {"enum", "boolean"}


@dataclass(frozen=True)
class EngineLimits:
    """DuckDB's budget in the process that asks: an API worker shares its unit's ``MemoryMax``.

    ``temp_dir``: where DuckDB spills past ``memory_limit`` (an in-memory database
    would otherwise spill to ``.tmp`` in the working directory, read-only under systemd).
    """

    memory_limit: str = "128MB"
    threads: int = 2
    temp_dir: Path | None = None


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    import duckdb  # only here: a time series' check needs DuckDB's zone list, nothing else of it

    con = duckdb.connect()
    try:
        return frozenset(r[0] for r in con.execute("SELECT name FROM pg_timezone_names()").fetchall())
    finally:
        con.close()


def known_timezone(name: str) -> bool:
    """A time zone DuckDB's ICU can bucket by (Python's zoneinfo also accepts files like ``localtime``)."""
    return name in _zones()
