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
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")


def loads(text: str | bytes) -> Any:
    """Parse JSON; raises :class:`ValueError` (``json.JSONDecodeError``) exactly as :func:`json.loads` does."""
    pattern = _LONG_DIGITS_BYTES if isinstance(text, bytes | bytearray) else _LONG_DIGITS
    if pattern.search(text) is None:  # type: ignore[arg-type]
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON (no spaces, non-ASCII as is)."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def dumps_text(data: Any) -> str:
    """:func:`dumps` as a ``str`` (what a SQLite TEXT column stores)."""
    return dumps(data).decode()
