"""GET /api/v1/forms/{id}/export: streamed, every row across pages, the list's filters, redaction, bad input."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pyarrow.parquet as pq
import pytest

from app.services import Services
from etl import stream
from tests.conftest import Api, make_user_key
from tests.exports.conftest import seed
from tests.exports.test_stream import _sheet_rows

N = 2 * stream.PAGE + 345  # more than two store pages


def export(api: Api, form_id: str, **params: str) -> Any:
    query = "&".join(f"{k}={v}" for k, v in {"format": "csv", **params}.items())
    return api.get(f"/api/v1/forms/{form_id}/export?{query}")


def rows_of(resp: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))


def test_csv_streams_every_row_across_pages_newest_first(api: Api, svc: Services, form: dict[str, Any]) -> None:
    seed(svc, form, N)
    resp = export(api, form["id"])
    assert resp.status_code == 200 and resp.is_streamed
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="form-{form["id"]}.csv"' in resp.headers["Content-Disposition"]
    assert resp.headers["Cache-Control"] == "no-store"
    rows = rows_of(resp)
    assert len(rows) == N and len({r["id"] for r in rows}) == N  # never truncated, never doubled
    assert [r["id"] for r in rows[:2]] == [f"S{N - 1:07d}", f"S{N - 2:07d}"]
    assert list(rows[0])[:8] == [name for name, _ in stream.ENVELOPE]
    assert list(rows[0])[8:] == [*form["schema"]["properties"], "other_answers"]
    assert rows[0]["tags"] == '["a"]' and rows[0]["age"] == str((N - 1) % 90)


def test_the_lists_filters_apply(api: Api, svc: Services, form: dict[str, Any]) -> None:
    made = seed(svc, form, 300)
    approved = export(api, form["id"], **{"filter[status]": "approved"})
    assert len(rows_of(approved)) == sum(r["status"] == "approved" for r in made)
    older = export(api, form["id"], **{"filter[answers.age][gte]": "80", "filter[status]": "submitted,rejected"})
    want = sum(r["answers"]["age"] >= 80 and r["status"] != "approved" for r in made)
    assert len(rows_of(older)) == want
    cut = made[100]["created_at"]
    after = export(api, form["id"], created_after=cut)
    assert len(rows_of(after)) == 199
    picked = rows_of(export(api, form["id"], fields="age,name"))
    in_schema = [f for f in form["schema"]["properties"] if f in {"name", "age"}]  # the form's order, not ours
    assert list(picked[0])[8:] == [*in_schema, "other_answers"] and len(picked) == 300


def test_sensitive_fields_are_redacted_for_viewers(api: Api, svc: Services, form: dict[str, Any]) -> None:
    seed(svc, form, 5)
    viewer = make_user_key(svc, "viewer1", "viewer", "read")
    user = svc.store.get_user_by_name("viewer1")
    assert api.put(f"/api/v1/forms/{form['id']}/shares/{user['id']}", {"role": "viewer"}).status_code in {200, 201}
    seen = rows_of(export(api.as_(viewer), form["id"]))
    assert {r["phone"] for r in seen} == {"[redacted]"} and seen[0]["name"] == "n4"
    # the admin sees it (a leading ' because a cell starting with '+' would run as a spreadsheet formula)
    assert rows_of(export(api, form["id"]))[0]["phone"] == "'+1 555 0004"
    lines = export(api.as_(viewer), form["id"], format="jsonl").get_data(as_text=True).splitlines()
    assert json.loads(lines[0])["phone"] == "[redacted]"


def test_someone_without_access_cannot_export(api: Api, svc: Services, form: dict[str, Any]) -> None:
    seed(svc, form, 3)
    stranger = make_user_key(svc, "stranger", "editor", "read")
    resp = export(api.as_(stranger), form["id"])
    assert resp.status_code == 404 and resp.json["error"]["code"] == "form_not_found"
    assert export(api.as_(None), form["id"]).status_code == 401


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "xlsx"])
def test_every_format_has_every_row(api: Api, svc: Services, form: dict[str, Any], fmt: str) -> None:
    seed(svc, form, stream.PAGE + 10)
    resp = export(api, form["id"], format=fmt)
    assert resp.status_code == 200 and resp.mimetype == stream.MEDIA_TYPES[fmt].split(";")[0]
    data = resp.get_data()
    if fmt == "jsonl":
        lines = data.decode().splitlines()
        assert len(lines) == stream.PAGE + 10 and json.loads(lines[0])["tags"] == ["a"]
    elif fmt == "parquet":
        table = pq.read_table(io.BytesIO(data))
        assert table.num_rows == stream.PAGE + 10 and table.column("age").type == "int64"
    else:
        assert list(_sheet_rows(data).values()) == [stream.PAGE + 11]


@pytest.mark.parametrize(("params", "parameter", "code"), [
    ({"format": "pdf"}, "format", "invalid_format"),
    ({"filter[answers.nope]": "1"}, "filter[answers.nope]", "unknown_field"),
    ({"filter[answers.age][gte]": "old"}, "filter[answers.age][gte]", "invalid_filter"),
    ({"filter[status]": "lost"}, "filter[status]", "invalid_filter"),
    ({"created_after": "yesterday"}, "created_after", "invalid_timestamp"),
    ({"limit": "10"}, "limit", "unknown_parameter"),
    ({"cursor": "abc"}, "cursor", "unknown_parameter"),
    ({"sort": "x"}, "sort", "unknown_parameter"),
])
def test_bad_input_is_a_400_naming_the_parameter(api: Api, form: dict[str, Any], params: dict[str, str],
                                                 parameter: str, code: str) -> None:
    resp = export(api, form["id"], **params)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    err = resp.json["error"]
    assert err["code"] == code and err["details"][0]["pointer"] == parameter and err["request_id"]


def test_an_unknown_form_is_404(api: Api) -> None:
    assert export(api, "01NOSUCHFORM").status_code == 404
