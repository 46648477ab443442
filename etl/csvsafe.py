"""CSV cells a spreadsheet would run as a formula, neutralised (CSV injection).

Answers come from anyone holding a public link, and a CSV is opened in a
spreadsheet by someone else: a cell like ``=HYPERLINK(...)`` or
``@SUM(...)`` would be evaluated there. As OWASP's CSV-injection advice says,
a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading single quote, which spreadsheets show as text. Only
text is touched: numbers written as numbers (``-5`` in a numeric column) are
not formulas and keep their value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_RE = "^[=+\\-@\t\r]"
_QUOTE, _EMPTY = pa.scalar("'"), pa.scalar("")


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text a spreadsheet would take for a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralise_columns(columns: Sequence[pa.Array | pa.ChunkedArray]) -> list[pa.Array | pa.ChunkedArray]:
    """The same for Arrow string columns (an export page's text columns), vectorised.

    One anchored RE2 match over all the columns at once, because compiling
    the pattern is most of what a call costs at a page of rows; a column with
    no such cell comes back as the same object, so the caller can tell.
    """
    cols = list(columns)
    chunks = [chunk for col in cols for chunk in (col.chunks if isinstance(col, pa.ChunkedArray) else [col])]
    if not chunks:
        return cols
    mask = pc.match_substring_regex(pa.chunked_array(chunks, type=pa.string()), _FORMULA_RE)
    if not pc.any(mask).as_py():
        return cols
    out, pos = [], 0
    for col in cols:
        hit = mask.slice(pos, len(col))
        pos += len(col)
        quoted = pc.binary_join_element_wise(_QUOTE, col, _EMPTY) if pc.any(hit).as_py() else None
        out.append(col if quoted is None else pc.if_else(hit, quoted, col))
    return out


class SafeWriter:
    """A :func:`csv.writer` whose every text cell goes through :func:`neutralise`."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def writerow(self, row: Iterable[Any]) -> None:
        self.writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
