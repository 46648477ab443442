"""JSON at orjson's speed with the standard library's results: one place for the fallbacks.

Why: the request path parses the body, writes the row, the outbox payload and
the response; :mod:`json` cost a tenth of a submission's CPU doing that. orjson
differs from it in a few corners, and each one goes back to :mod:`json`, so
nothing a client or a stored row sees changes:

* integers past 64 bits: orjson reads them as rounded floats and refuses to
  write them; text with a run of 19 or more digits anywhere is parsed by
  :mod:`json`, and a value orjson cannot write is written by :mod:`json`;
* what orjson refuses to read (NaN, Infinity, a BOM, lone surrogates) is read
  by :mod:`json`, which accepts or rejects it with its usual message;
* dictionary keys that are not strings are written by :mod:`json`.

Request bodies go through :func:`loads_standard` instead: :mod:`json` accepts
``NaN``, ``Infinity``, ``-Infinity`` and numbers past a float's range (``1e400``),
which orjson would later write back as ``null`` -- a client's value silently
changed. Those are not JSON (RFC 8259), so the request path refuses them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import orjson

_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")


def loads(text: str | bytes) -> Any:
    """Parse JSON; raises :class:`ValueError` (``json.JSONDecodeError``) exactly as :func:`json.loads` does."""
    return _loads(text, json.loads)


def _loads(text: str | bytes, fallback: Callable[[str | bytes], Any]) -> Any:
    """orjson where its result is :mod:`json`'s, else ``fallback`` (see the module docstring)."""
    pattern = _LONG_DIGITS_BYTES if isinstance(text, bytes | bytearray) else _LONG_DIGITS
    if pattern.search(text) is None:  # type: ignore[arg-type]
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return fallback(text)


class NonStandardJSON(ValueError):
    """A value that :mod:`json` reads but standard JSON has no place for (NaN, Infinity, 1e400)."""


def _refuse_constant(name: str) -> Any:
    raise NonStandardJSON(f"{name} is not valid JSON (send null or a finite number)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonStandardJSON(f"{text} is out of range for a JSON number (it would be stored as null)")
    return value


def loads_standard(text: str | bytes) -> Any:
    """:func:`loads` for client input: also refuses what only :mod:`json` reads (:class:`NonStandardJSON`).

    orjson already refuses NaN, Infinity and 1e400, so only the fallback needs telling.
    """
    return _loads(text, _loads_standard_json)


def _loads_standard_json(text: str | bytes) -> Any:
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON (no spaces, non-ASCII as is)."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def dumps_text(data: Any) -> str:
    """:func:`dumps` as a ``str`` (what a SQLite TEXT column stores)."""
    return dumps(data).decode()
