"""The export writers and column layout (etl/stream.py) on real pyarrow and xlsxwriter output."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any
from xml.etree import ElementTree

import pyarrow.parquet as pq
import pytest

from app.store.base import EXPORT_COLUMNS
from etl import stream

FORM: dict[str, Any] = {"id": "F1", "schema": {"type": "object", "properties": {
    "name": {"type": "string"}, "age": {"type": "integer"}, "score": {"type": ["number", "null"]},
    "ok": {"type": "boolean"}, "topic": {"enum": ["a", "b"]}, "tags": {"type": "array"},
    "addr": {"type": "object"}, "status": {"type": "string"}, "phone": {"type": "string"}}}}
ENVELOPE = ["id", "form_id", "form_version", "status", "created_at", "updated_at", "deleted_at", "created_by"]


def sub(i: int, **answers: Any) -> tuple[Any, ...]:
    """A store row as Store.export_submissions returns it (answers as JSON text, as SQLite gives them)."""
    ts = f"2026-02-03T04:05:{i % 60:02d}.000001Z"
    rec = {"id": f"S{i:06d}", "form_id": "F1", "form_version": 1, "status": "submitted", "created_at": ts,
           "updated_at": ts, "deleted_at": None, "created_by": "U1", "answers": json.dumps(answers)}
    return tuple(rec[c] for c in EXPORT_COLUMNS)


ROWS = [sub(1, name="Ann", age=31, score=2.5, ok=True, topic="a", tags=["x", "y"], addr={"city": "Oslo"},
            status="vip", phone="+47 1"),
        sub(2, name="=1+1", age="old", gone="kept", phone="+47 2"),  # an old version's answers
        sub(3)]


def test_layout_is_envelope_then_schema_order_then_other_answers() -> None:
    cols = stream.layout(FORM, frozenset({"phone"}))
    assert [c.name for c in cols] == [*ENVELOPE, "name", "age", "score", "ok", "topic", "tags", "addr",
                                       "answers.status", "phone", "other_answers"]
    kinds = {c.name: c.kind for c in cols}
    assert kinds["age"] == "integer" and kinds["score"] == "number" and kinds["ok"] == "boolean"
    assert kinds["topic"] == "string" and kinds["tags"] == "json" and kinds["addr"] == "json"
    assert kinds["phone"] == "string"  # redacted columns are strings whatever the schema says
    assert [c.name for c in stream.layout(FORM, fields=["age", "name"])][len(ENVELOPE):] == \
        ["name", "age", "other_answers"]  # schema order, not the order asked


def test_rows_type_redact_and_keep_what_does_not_fit() -> None:
    rows = stream.rows_for(FORM, frozenset({"phone"}))
    first, second, third = (rows.row(s) for s in ROWS)
    names = [c.name for c in rows.columns]
    one = dict(zip(names, first, strict=True))
    assert one["phone"] == "[redacted]" and one["answers.status"] == "vip" and one["tags"] == ["x", "y"]
    assert one["other_answers"] is None
    two = dict(zip(names, second, strict=True))
    assert two["age"] is None and two["other_answers"] == {"age": "old", "gone": "kept"}
    assert dict(zip(names, third, strict=True))["name"] is None
    text = dict(zip(names, stream.rows_for(FORM, text=True).row(ROWS[0]), strict=True))
    assert text["tags"] == '["x", "y"]' or text["tags"] == '["x","y"]'
    assert text["ok"] is True and text["age"] == 31 and text["other_answers"] is None
    assert stream.rows_for(FORM, text=True).row(ROWS[1])[-1] == '{"age":"old","gone":"kept"}'


def test_a_bool_is_not_an_integer_answer() -> None:
    rows = stream.rows_for(FORM)
    values = dict(zip([c.name for c in rows.columns], rows.row(sub(9, age=True, score=1, ok=1)), strict=True))
    assert values["age"] is None and values["score"] == 1 and values["ok"] is None
    assert values["other_answers"] == {"age": True, "ok": 1}


def test_an_integer_past_int64_goes_to_other_answers_not_into_a_broken_file() -> None:
    rows = stream.rows_for(FORM)
    big = rows.row(sub(1, age=2**70, score=2**70))
    named = dict(zip([c.name for c in rows.columns], big, strict=True))
    assert named["age"] is None and named["score"] is None  # kept exact, not rounded into a float column
    assert named["other_answers"] == {"age": 2**70, "score": 2**70}
    table = pq.ParquetFile(io.BytesIO(b"".join(stream.write_parquet(rows.columns, [[big]])))).read()
    assert json.loads(table.column("other_answers")[0].as_py()) == {"age": 2**70, "score": 2**70}
    assert b"1180591620717411303424" in b"".join(stream.write_csv(rows.columns, [[big]]))
    nested = dict(zip([c.name for c in rows.columns], rows.row(sub(2, tags=[2**70], extra={"n": -(2**70)})),
                      strict=True))
    assert nested["tags"] == [2**70] and nested["other_answers"] == {"extra": {"n": -(2**70)}}


def batches(n: int, size: int = 7, text: bool = False) -> list[list[list[Any]]]:
    rows = stream.rows_for(FORM, frozenset({"phone"}), text=text)
    subs = [sub(i, name=f"n{i}", age=i, tags=[i], ok=i % 2 == 0, phone="p") for i in range(n)]
    return [[rows.row(s) for s in subs[i:i + size]] for i in range(0, n, size)]


COLS = stream.layout(FORM, frozenset({"phone"}))


def test_csv_has_a_header_and_every_row_with_nested_values_as_json() -> None:
    data = b"".join(stream.write_csv(COLS, batches(50))).decode()
    table = list(csv.DictReader(io.StringIO(data)))
    assert len(table) == 50 and list(table[0]) == [c.name for c in COLS]
    assert table[3]["tags"] == "[3]" and table[3]["ok"] == "false" and table[3]["phone"] == "[redacted]"
    assert table[3]["score"] == "" and table[3]["created_at"].endswith("Z")


def test_jsonl_keeps_nested_values_as_json() -> None:
    lines = b"".join(stream.write_jsonl(COLS, batches(20))).decode().splitlines()
    assert len(lines) == 20
    assert json.loads(lines[5])["tags"] == [5] and json.loads(lines[5])["age"] == 5


def test_parquet_is_typed_and_written_by_row_groups() -> None:
    data = b"".join(stream.write_parquet(COLS, batches(50), row_group=10))
    f = pq.ParquetFile(io.BytesIO(data))
    assert f.metadata.num_rows == 50 and f.metadata.num_row_groups == 5
    table = f.read()
    assert str(table.schema.field("age").type) == "int64" and str(table.schema.field("ok").type) == "bool"
    assert str(table.schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert table.column("tags").to_pylist()[7] == "[7]" and table.column("phone").to_pylist()[0] == "[redacted]"


def test_parquet_sink_hands_bytes_out_before_the_end() -> None:
    chunks = list(stream.write_parquet(COLS, batches(40), row_group=10))
    assert len([c for c in chunks if c]) >= 4  # one drained chunk per row group, not one blob at the end


def _sheet_rows(data: bytes) -> dict[str, int]:
    rows = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/sheet"):
                tree = ElementTree.fromstring(z.read(name))
                rows[name] = sum(1 for el in tree.iter() if el.tag.endswith("}row"))
    return rows


def test_xlsx_continues_on_a_new_sheet_instead_of_cutting_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "XLSX_MAX_ROWS", 11)  # 10 rows + header per sheet
    data = b"".join(stream.write_xlsx(COLS, batches(25, text=True)))
    assert sorted(_sheet_rows(data).values()) == [6, 11, 11]  # 25 rows + 3 headers
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        text = z.read("xl/worksheets/sheet1.xml").decode() + z.read("xl/sharedStrings.xml").decode() \
            if "xl/sharedStrings.xml" in z.namelist() else z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in text  # strings are never turned into formulas


def test_formula_like_strings_stay_strings_in_xlsx() -> None:
    rows = stream.rows_for(FORM, text=True)
    data = b"".join(stream.write_xlsx(rows.columns, [[rows.row(ROWS[1])]]))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet


def test_an_empty_export_still_has_its_header() -> None:
    assert b"".join(stream.write_csv(COLS, [])).decode().startswith('"id","form_id",')
    assert pq.ParquetFile(io.BytesIO(b"".join(stream.write_parquet(COLS, [])))).metadata.num_rows == 0
    assert list(_sheet_rows(b"".join(stream.write_xlsx(COLS, []))).values()) == [1]
