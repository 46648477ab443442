"""Streamed exports of one form's submissions: CSV, JSON lines, Parquet, XLSX.

Memory stays flat at any size: submissions come from the store in keyset
pages (:func:`pages`) and each page is written and handed on before the next
is read. CSV and JSON lines go out page by page; Parquet is written by row
groups into a sink that is drained after each group; XLSX (a zip that can
only be finished at the end) is built by xlsxwriter in ``constant_memory``
mode in a temporary file and streamed from disk once complete.

Column layout (the same in every format, documented in the README):

* envelope: ``id, form_id, form_version, status, created_at, updated_at,
  deleted_at, created_by``;
* one column per schema property, in schema order, named after it (a
  property whose name is an envelope column's is named ``answers.<name>``);
  strings, integers, numbers and booleans keep their type, objects and arrays
  are JSON-encoded (JSON lines keeps them as JSON);
* ``other_answers``: a JSON object of answers that are not in the current
  schema or do not fit their column's type (answers given under an older
  version), so nothing is lost.

Sensitive fields the caller may not see are ``"[redacted]"`` (string columns).
Rows are never cut: the writers see every page until the store has no more.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from app.store import Record, Store, SubmissionQuery

PAGE = 1000
ROW_GROUP = 50_000
REDACTED = "[redacted]"
FORMATS = ("csv", "jsonl", "parquet", "xlsx")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson",
               "parquet": "application/vnd.apache.parquet",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
ENVELOPE: tuple[tuple[str, str], ...] = (
    ("id", "string"), ("form_id", "string"), ("form_version", "integer"), ("status", "string"),
    ("created_at", "timestamp"), ("updated_at", "timestamp"), ("deleted_at", "timestamp"), ("created_by", "string"),
)
OTHER = "other_answers"
XLSX_MAX_ROWS = 1_048_576  # Excel's rows per sheet, header included
_ARROW = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(),
          "json": pa.string(), "timestamp": pa.timestamp("us", tz="UTC")}
_SCALARS = {"string", "integer", "number", "boolean"}


@dataclass(frozen=True)
class Column:
    """One output column: its name, the answer it holds (None: envelope) and its kind."""

    name: str
    field: str | None
    kind: str  # string integer number boolean json timestamp


def _kind(prop: Any) -> str:
    if not isinstance(prop, dict):
        return "json"
    kind = prop.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind is None and "enum" in prop:
        kind = "string" if all(isinstance(v, str) for v in prop["enum"]) else None
    return str(kind) if kind in _SCALARS else "json"


def layout(form: Record, hide: frozenset[str] = frozenset(), fields: Iterable[str] | None = None) -> list[Column]:
    """The export's columns for ``form`` (see the module docstring); ``fields`` picks properties."""
    props: dict[str, Any] = (form.get("schema") or {}).get("properties") or {}
    wanted = set(fields) if fields is not None else None
    envelope = {name for name, _ in ENVELOPE}
    cols = [Column(name, None, kind) for name, kind in ENVELOPE]
    for name, prop in props.items():
        if wanted is not None and name not in wanted:
            continue
        kind = "string" if name in hide else _kind(prop)
        cols.append(Column(f"answers.{name}" if name in envelope or name == OTHER else name, name, kind))
    cols.append(Column(OTHER, None, "json"))
    return cols


def _fits(value: Any, kind: str) -> bool:
    if kind == "json":
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)  # number


class Rows:
    """Turns submissions into row value lists for a layout (answers typed, redacted, the rest kept)."""

    def __init__(self, columns: list[Column], hide: frozenset[str], picked: bool = False) -> None:
        self.columns = columns
        self.hide = hide
        self.answer_cols = [c for c in columns if c.field is not None]
        self.known = {c.field for c in self.answer_cols}
        self.picked = picked  # ``fields`` narrowed the layout: answers outside it are not exported at all

    def row(self, sub: Record) -> list[Any]:
        answers: dict[str, Any] = sub.get("answers") or {}
        out: list[Any] = [sub.get(name) for name, _ in ENVELOPE]
        other: dict[str, Any] = {}
        for col in self.answer_cols:
            value = answers.get(col.field)  # type: ignore[arg-type]
            if value is None:
                out.append(None)
            elif col.field in self.hide:
                out.append(REDACTED)
            elif _fits(value, col.kind):
                out.append(value)
            else:
                out.append(None)
                other[col.field] = value  # type: ignore[index]
        if not self.picked:
            for key, value in answers.items():
                if key not in self.known:
                    other[key] = REDACTED if key in self.hide else value
        out.append(other or None)
        return out


def rows_for(form: Record, hide: frozenset[str] = frozenset(), fields: Iterable[str] | None = None) -> Rows:
    """The layout and row builder for one export."""
    picked = tuple(fields) if fields is not None else None
    return Rows(layout(form, hide, picked), hide, picked is not None)


def pages(store: Store, query: SubmissionQuery, page: int = PAGE) -> Iterator[list[Record]]:
    """Every submission ``query`` matches, newest first, in keyset pages (the list's own order)."""
    q = replace(query, after=None, limit=page)
    while True:
        batch = store.query_submissions(q)
        if batch:
            yield batch
        if len(batch) < page:
            return
        q = replace(q, after=(batch[-1]["created_at"], batch[-1]["id"]))


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _text(value: Any, kind: str) -> Any:
    """A value as a CSV/XLSX cell: JSON-encoded when nested, None kept."""
    if value is None:
        return None
    if kind == "json" or isinstance(value, dict | list):
        return _dump(value)
    return value


# -- writers: each turns an iterator of row batches into an iterator of bytes ----------------------
Batches = Iterable[list[list[Any]]]


def write_csv(columns: list[Column], batches: Batches) -> Iterator[bytes]:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow([c.name for c in columns])
    kinds = [c.kind for c in columns]
    for batch in batches:
        for values in batch:
            out.writerow([_csv_cell(v, k) for v, k in zip(values, kinds, strict=True)])
        yield buf.getvalue().encode()
        buf.seek(0)
        buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode()


def _csv_cell(value: Any, kind: str) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "json" or isinstance(value, dict | list):
        return _dump(value)
    return value


def write_jsonl(columns: list[Column], batches: Batches) -> Iterator[bytes]:
    names = [c.name for c in columns]
    for batch in batches:
        yield "".join(_dump(dict(zip(names, values, strict=True))) + "\n" for values in batch).encode()


class _Sink(io.RawIOBase):
    """A write-only file that keeps what was written until :meth:`drain` takes it."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []
        self.pos = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.chunks.append(chunk)
        self.pos += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.pos

    def drain(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def arrow_schema(columns: list[Column]) -> pa.Schema:
    return pa.schema([(c.name, _ARROW[c.kind]) for c in columns])


def _table(columns: list[Column], schema: pa.Schema, rows: list[list[Any]]) -> pa.Table:
    arrays = []
    for i, col in enumerate(columns):
        values = [r[i] for r in rows]
        if col.kind == "json":
            arrays.append(pa.array([None if v is None else _dump(v) for v in values], type=pa.string()))
        elif col.kind == "timestamp":
            arrays.append(pa.array(values, type=pa.string()).cast(_ARROW["timestamp"]))
        else:
            arrays.append(pa.array(values, type=_ARROW[col.kind]))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_parquet(columns: list[Column], batches: Batches, row_group: int = ROW_GROUP) -> Iterator[bytes]:
    schema = arrow_schema(columns)
    sink = _Sink()
    pending: list[list[Any]] = []
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for batch in batches:
            pending.extend(batch)
            if len(pending) >= row_group:
                while len(pending) >= row_group:  # whole groups only: every group but the last is full
                    writer.write_table(_table(columns, schema, pending[:row_group]), row_group_size=row_group)
                    pending = pending[row_group:]
                yield sink.drain()
        if pending:
            writer.write_table(_table(columns, schema, pending), row_group_size=row_group)
    yield sink.drain()


def write_xlsx(columns: list[Column], batches: Batches, tmp_dir: Path | None = None,
               chunk: int = 1 << 20) -> Iterator[bytes]:
    """XLSX via xlsxwriter ``constant_memory``; more rows than a sheet holds continue on the next sheet."""
    import xlsxwriter

    fd, name = tempfile.mkstemp(suffix=".xlsx", dir=tmp_dir)
    os.close(fd)
    try:
        book = xlsxwriter.Workbook(name, {"constant_memory": True, "strings_to_formulas": False,
                                          "strings_to_urls": False, "strings_to_numbers": False,
                                          "tmpdir": str(tmp_dir) if tmp_dir else None})
        header = [c.name for c in columns]
        kinds = [c.kind for c in columns]
        sheets, sheet, row = 0, None, XLSX_MAX_ROWS
        for batch in batches:
            for values in batch:
                if row >= XLSX_MAX_ROWS:
                    sheets += 1
                    sheet = book.add_worksheet("submissions" if sheets == 1 else f"submissions {sheets}")
                    sheet.write_row(0, 0, header)
                    row = 1
                sheet.write_row(row, 0, [_text(v, k) for v, k in zip(values, kinds, strict=True)])  # type: ignore[union-attr]
                row += 1
            yield b""  # keeps a streamed response's generator moving (and the caller's progress ticking)
        if sheet is None:
            book.add_worksheet("submissions").write_row(0, 0, header)
        book.close()
        with open(name, "rb") as fh:
            while data := fh.read(chunk):
                yield data
    finally:
        os.unlink(name)


def write(fmt: str, columns: list[Column], batches: Batches, tmp_dir: Path | None = None) -> Iterator[bytes]:
    """The bytes of an export in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "csv":
        return write_csv(columns, batches)
    if fmt == "jsonl":
        return write_jsonl(columns, batches)
    if fmt == "parquet":
        return write_parquet(columns, batches)
    if fmt == "xlsx":
        return write_xlsx(columns, batches, tmp_dir)
    raise ValueError(f"unknown export format {fmt!r}")


def export_stream(store: Store, form: Record, query: SubmissionQuery, fmt: str, hide: frozenset[str] = frozenset(),
                  tmp_dir: Path | None = None, on_rows: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """Everything ``query`` matches on ``form`` as ``fmt`` bytes, page by page; ``on_rows`` hears each page's size."""
    rows = rows_for(form, hide, query.fields)
    full = replace(query, fields=None)  # other_answers needs the whole answers object

    def batches() -> Iterator[list[list[Any]]]:
        for page in pages(store, full):
            yield [rows.row(sub) for sub in page]
            if on_rows is not None:
                on_rows(len(page))

    return write(fmt, rows.columns, batches(), tmp_dir)
