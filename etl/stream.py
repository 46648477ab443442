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

Sensitive fields the caller may not see are ``"[redacted]"`` (string columns),
masked by :func:`app.forms.sensitive.redact` like every other way out.
CSV cells that a spreadsheet would run as a formula (a string starting with
``= + - @``, a tab or a carriage return: answers come from anonymous public
links) get a leading ``'``, as OWASP advises (:mod:`etl.csvsafe`).
Rows are never cut: the writers see every page until the store has no more.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from app.forms.sensitive import redact
from app.store import Record, Store, SubmissionQuery
from app.store.base import EXPORT_COLUMNS
from etl.csvsafe import neutralise_columns
from etl.formats import FORMATS as FORMATS  # re-exported: callers may import them from here
from etl.formats import MEDIA_TYPES as MEDIA_TYPES

PAGE = 1000
ROW_GROUP = 20_000  # rows per Parquet row group: what one group costs in memory while it is built
ENVELOPE: tuple[tuple[str, str], ...] = (
    ("id", "string"), ("form_id", "string"), ("form_version", "integer"), ("status", "string"),
    ("created_at", "timestamp"), ("updated_at", "timestamp"), ("deleted_at", "timestamp"), ("created_by", "string"),
)
OTHER = "other_answers"
if (*(name for name, _ in ENVELOPE), "answers") != EXPORT_COLUMNS:  # rows are read by position
    raise ImportError("etl.stream.ENVELOPE must match app.store.base.EXPORT_COLUMNS")
_ANSWERS, _ID, _CREATED = (EXPORT_COLUMNS.index(c) for c in ("answers", "id", "created_at"))
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


_TYPES: dict[str, tuple[type, ...] | None] = {"string": (str,), "integer": (int,), "number": (float, int),
                                              "boolean": (bool,), "json": None}
_MISSING = object()
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class Rows:
    """Turns store rows (:data:`EXPORT_COLUMNS` tuples) into a layout's values: typed, redacted, nothing lost.

    ``text``: nested values JSON-encoded here (XLSX cells); otherwise native
    (JSON lines; CSV and Parquet encode them per column). This loop runs once
    per exported row, so it checks exact types (``bool`` is not an
    ``integer`` answer) with no call per field.
    """

    def __init__(self, columns: list[Column], hide: frozenset[str], picked: bool = False, text: bool = False) -> None:
        self.columns = columns
        self.text = text
        self.picked = picked  # ``fields`` narrowed the layout: answers outside it are not exported at all
        self.fields = [(c.field, _TYPES[c.kind]) for c in columns if c.field is not None]
        self.known = frozenset(c.field for c in columns if c.field is not None)
        self.hide = hide

    def row(self, rec: tuple[Any, ...]) -> list[Any]:
        raw = rec[_ANSWERS]
        if raw.__class__ is not str:
            return self._build(rec, raw)[0]
        try:
            out, exact = self._build(rec, orjson.loads(raw))
        except orjson.JSONDecodeError:
            exact = False
        # orjson turns an integer past 64 bits into a float (>= 2**63 in magnitude): such a row is
        # parsed again by the standard library, which keeps it exact. Checked while building, not before.
        return out if exact else self._build(rec, json.loads(raw))[0]

    def _build(self, rec: tuple[Any, ...], answers: dict[str, Any]) -> tuple[list[Any], bool]:
        if self.hide:
            answers = redact(answers, self.hide)
        out = list(rec[:_ANSWERS])
        other: dict[str, Any] | None = None
        present = 0
        exact = True
        text = self.text
        for name, accept in self.fields:
            value = answers.get(name, _MISSING)
            if value is _MISSING:
                out.append(None)
                continue
            present += 1
            cls = value.__class__
            if cls is float and not -9.2e18 < value < 9.2e18:
                exact = False
            if value is None:
                out.append(None)
            elif accept is None:
                if (cls is list or cls is dict) and not _exact(value):
                    exact = False
                out.append(_dump(value) if text else value)
            elif cls in accept and (cls is not int or _INT64_MIN <= value <= _INT64_MAX):
                out.append(value)
            else:  # includes integers no int64 column can hold
                out.append(None)
                other = other or {}
                other[name] = value
        if not self.picked and len(answers) > present:
            for key, value in answers.items():
                if key not in self.known:
                    exact = exact and _exact([value])
                    other = other or {}
                    other[key] = value
        out.append(other if other is None or not text else _dump(other))
        return out, exact


def rows_for(form: Record, hide: frozenset[str] = frozenset(), fields: Iterable[str] | None = None,
             text: bool = False) -> Rows:
    """The layout and row builder for one export."""
    picked = tuple(fields) if fields is not None else None
    return Rows(layout(form, hide, picked), hide, picked is not None, text)


def pages(store: Store, query: SubmissionQuery, page: int | None = None) -> Iterator[list[tuple[Any, ...]]]:
    """Every submission ``query`` matches, newest first, in keyset pages of :data:`EXPORT_COLUMNS` tuples."""
    size = page or PAGE
    q = replace(query, after=None, limit=size, fields=None)
    while True:
        batch = store.export_submissions(q)
        if batch:
            yield batch
        if len(batch) < size:
            return
        q = replace(q, after=(batch[-1][_CREATED], batch[-1][_ID]))  # the list's keyset


def _dump(value: Any) -> str:
    """Compact JSON text; orjson because an export encodes every nested answer of every row."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what orjson refuses (integers past 64 bits): the standard library takes it
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _exact(obj: Any) -> bool:
    """No float in ``obj`` (a list or dict, nested) that orjson could have made from a too-long integer."""
    for v in obj.values() if obj.__class__ is dict else obj:
        c = v.__class__
        if c is float:
            if not -9.2e18 < v < 9.2e18:
                return False
        elif (c is dict or c is list) and not _exact(v):
            return False
    return True


# -- writers: each turns an iterator of row batches into an iterator of bytes ----------------------
Batches = Iterable[list[list[Any]]]


def write_csv(columns: list[Column], batches: Batches) -> Iterator[bytes]:
    """CSV by Arrow's C++ writer, page by page: header first, every string quoted, nulls empty.

    Arrow rather than the csv module: the rows become columns once per page
    and Arrow formats them several times faster than a Python loop per cell.
    Timestamps stay the ISO-8601 text the store holds. Text cells that would
    run as a spreadsheet formula get a leading ``'`` (:mod:`etl.csvsafe`).
    """
    schema = arrow_schema(columns, text_times=True)
    text = [i for i, c in enumerate(columns) if c.kind == "string" and c.field is not None]  # answers only
    sink = _Sink()
    with pacsv.CSVWriter(sink, schema) as writer:
        yield sink.drain()
        for batch in batches:
            if batch:
                writer.write_table(_neutralised(_table(columns, schema, batch), text))
            yield sink.drain()
    yield sink.drain()


def _neutralised(table: pa.Table, text: list[int]) -> pa.Table:
    """``table`` with its text columns (indexes ``text``) safe to open in a spreadsheet."""
    for i, before, after in zip(text, [table.column(i) for i in text],
                                neutralise_columns([table.column(i) for i in text]), strict=True):
        if after is not before:
            table = table.set_column(i, table.schema.field(i), after)
    return table


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


def arrow_schema(columns: list[Column], text_times: bool = False) -> pa.Schema:
    """The Arrow types of a layout; ``text_times`` keeps timestamps as their ISO-8601 text (CSV)."""
    return pa.schema([(c.name, pa.string() if text_times and c.kind == "timestamp" else _ARROW[c.kind])
                      for c in columns])


def _table(columns: list[Column], schema: pa.Schema, rows: list[list[Any]]) -> pa.Table:
    arrays = []
    for i, col in enumerate(columns):
        values = [r[i] for r in rows]
        if col.kind == "json":
            arrays.append(pa.array([None if v is None else _dump(v) for v in values], type=pa.string()))
        elif col.kind == "timestamp":
            text = pa.array(values, type=pa.string())
            arrays.append(text if schema.field(i).type == pa.string() else text.cast(_ARROW["timestamp"]))
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
        sheets, sheet, row = 0, None, XLSX_MAX_ROWS
        for batch in batches:
            for values in batch:
                if row >= XLSX_MAX_ROWS:
                    sheets += 1
                    sheet = book.add_worksheet("submissions" if sheets == 1 else f"submissions {sheets}")
                    sheet.write_row(0, 0, header)
                    row = 1
                sheet.write_row(row, 0, values)  # type: ignore[union-attr]
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
    rows = rows_for(form, hide, query.fields, text=fmt == "xlsx")

    def batches() -> Iterator[list[list[Any]]]:
        for page in pages(store, query):
            yield [rows.row(sub) for sub in page]
            if on_rows is not None:
                on_rows(len(page))

    return write(fmt, rows.columns, batches(), tmp_dir)
