"""CSV cells that a spreadsheet would run as a formula get a leading quote (OWASP's CSV-injection advice).

Answers come from anonymous public links, so ``=HYPERLINK(...)`` in a name
must open as text. Checked on the real writers (Arrow's CSV writer for
exports, the csv module for the analytics table) and over HTTP; other
formats keep the value exactly.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pyarrow as pa
import pytest

from app.services import Services
from etl import csvsafe, stream
from tests.conftest import Api
from tests.exports.test_stream import FORM, sub

PAYLOADS = ["=HYPERLINK(\"http://x.test\",\"y\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("value", PAYLOADS)
def test_each_formula_start_gets_a_quote(value: str) -> None:
    assert csvsafe.neutralise(value) == "'" + value
    plain = pa.array(["plain", None])
    safe, same = csvsafe.neutralise_columns([pa.array([value, "plain", None]), plain])
    assert safe.to_pylist() == ["'" + value, "plain", None] and same is plain


@pytest.mark.parametrize("value", ["plain", "a=b", "", "'=already", -5, 2.5, None, True])
def test_other_cells_are_left_alone(value: Any) -> None:
    assert csvsafe.neutralise(value) == value


def test_columns_without_a_formula_are_returned_as_they_are() -> None:
    arr, chunked = pa.array(["a", "b", None]), pa.chunked_array([["c"], ["a=b", None]])
    assert all(a is b for a, b in zip(csvsafe.neutralise_columns([arr, chunked]), [arr, chunked], strict=True))
    assert csvsafe.neutralise_columns([]) == []


def test_the_export_csv_quotes_text_cells_only() -> None:
    rows = stream.rows_for(FORM)
    values = [rows.row(sub(i, name=p, age=-5, score=-1.5, tags=["=x"], status=p)) for i, p in enumerate(PAYLOADS)]
    table = list(csv.DictReader(io.StringIO(b"".join(stream.write_csv(rows.columns, [values])).decode(),
                                            newline="")))
    assert [r["name"] for r in table] == ["'" + p for p in PAYLOADS]
    assert [r["answers.status"] for r in table] == ["'" + p for p in PAYLOADS]
    assert {r["age"] for r in table} == {"-5"} and {r["score"] for r in table} == {"-1.5"}  # numbers stay numbers
    assert {r["tags"] for r in table} == {'["=x"]'}  # JSON text starts with '[': no formula
    jsonl = [json.loads(x) for x in b"".join(stream.write_jsonl(rows.columns, [values])).decode().splitlines()]
    assert [r["name"] for r in jsonl] == PAYLOADS  # only CSV is touched


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_over_http_export_and_summary(api: Api, svc: Services) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"},
                                               "kind": {"enum": ["=evil", "fine"]}}}
    form = api.post("/api/v1/forms", {"title": "Public", "schema": schema}).json
    for i, payload in enumerate(PAYLOADS):
        answers = {"name": payload, "n": -i, "kind": "=evil" if i % 2 else "fine"}
        assert api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": answers}).status_code == 201
    exported = api.get(f"/api/v1/forms/{form['id']}/export", query_string={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True), newline="")))
    assert sorted(r["name"] for r in rows) == sorted("'" + p for p in PAYLOADS)
    assert sorted(int(r["n"]) for r in rows) == [-5, -4, -3, -2, -1, 0]
    summary = api.get(f"/api/v1/forms/{form['id']}/analytics", query_string={"format": "csv", "split_by": "kind"})
    assert summary.status_code == 200, summary.get_data(as_text=True)
    table = list(csv.reader(io.StringIO(summary.get_data(as_text=True), newline="")))
    risky = [c for row in table for c in row if c[:1] in csvsafe.FORMULA_START and not _number(c)]
    assert risky == [], "a cell would run as a formula"
    assert any(row[1] == "n" and row[3] == "min" and row[4] == "-5" for row in table)  # numbers stay numbers
    tops = {row[4] for row in table if row[1] == "name" and row[3] == "top" and row[0] == ""}
    assert tops == {"'" + p for p in PAYLOADS}
    assert {row[0] for row in table if row[3] == "total" and row[0]} == {"'=evil", "fine"}  # split labels too
    assert ["", "kind", "enum", "option", "'=evil", "3", "50.0"] in table
