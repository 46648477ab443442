"""GET /api/v1/forms/{id}/analytics and .../timeseries over HTTP: shapes, cache, bad input, Redis down.

Real SQLite, real Parquet from the daily export, real DuckDB and a real
redis-server (the session's, and one of this module's own that is stopped).
The seeded figures themselves are checked in tests/test_analytics_engine.py;
here they only have to arrive intact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.factory import create_app
from app.services import Services
from tests.analytics_seed import FORM_ID, seed
from tests.conftest import Api, make_settings, make_user_key, seed_user
from tests.helpers import RedisServer

URL = f"/api/v1/forms/{FORM_ID}/analytics"


@pytest.fixture
def seeded(svc: Services) -> dict[str, Any]:
    return seed(svc.store, svc.settings.export_dir)


def _error(resp: Any, status: int, param: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    err = resp.json["error"]
    assert set(err) == {"code", "message", "details", "request_id"} and err["request_id"]
    assert [d["pointer"] for d in err["details"]] == [param]
    return err  # type: ignore[no-any-return]


def test_summary_is_cached_until_a_new_submission(api: Api, seeded: dict[str, Any]) -> None:
    first = api.get(URL)
    assert first.status_code == 200
    body = first.json
    assert (body["form_id"], body["form_version"], body["total"], body["cached"]) == (FORM_ID, 1, 6, False)
    assert body["drafts"] == {"open": 1, "completed": 1} and body["fields"]["topic"]["options"][0]["count"] == 2
    again = api.get(URL).json
    assert again["cached"] is True and again["as_of"] == body["as_of"] and again["fields"] == body["fields"]
    created = api.post(f"/api/v1/forms/{FORM_ID}/submissions", {"answers": {"topic": "bug", "age": 61}})
    assert created.status_code == 201, created.json
    fresh = api.get(URL).json
    assert fresh["cached"] is False and fresh["total"] == 7 and fresh["fields"]["age"]["max"] == 61


def test_filters_and_split_are_part_of_the_cache_key(api: Api, seeded: dict[str, Any]) -> None:
    assert api.get(URL).json["total"] == 6
    filtered = api.get(URL, query_string={"filter[status]": "submitted", "filter[answers.age][gte]": "30"}).json
    assert (filtered["total"], filtered["cached"]) == (2, False)  # r1 (30) and r6 (35); r4 is approved
    split = api.get(URL, query_string={"split_by": "topic"}).json["split"]
    assert [(g["value"], g["total"]) for g in split["groups"]][:2] == [("billing", 2), ("bug", 2)]


def test_csv_format(api: Api, seeded: dict[str, Any]) -> None:
    resp = api.get(URL, query_string={"format": "csv"})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    lines = resp.get_data(as_text=True).splitlines()
    assert lines[0] == "group,field,kind,measure,value,count,pct" and ",,,total,,6," in lines


def test_timeseries(api: Api, seeded: dict[str, Any]) -> None:
    resp = api.get(f"{URL}/timeseries", query_string={"interval": "week", "tz": "America/New_York"})
    assert resp.status_code == 200
    body = resp.json
    assert (body["form_id"], body["interval"], body["tz"], body["cached"]) == (FORM_ID, "week", "America/New_York",
                                                                               False)
    assert [(p["start"], p["count"]) for p in body["points"]] == [("2025-02-24", 4), ("2025-03-03", 2)]
    assert api.get(f"{URL}/timeseries", query_string={"interval": "week", "tz": "America/New_York"}).json["cached"]
    day = api.get(f"{URL}/timeseries", query_string={"filter[status]": "draft"}).json
    assert [(p["start"], p["count"]) for p in day["points"]] == [("2025-03-03", 1)]


@pytest.mark.parametrize(("path", "args", "param"), [
    ("", {"split_by": "nope"}, "split_by"),
    ("", {"split_by": "age"}, "split_by"),  # not an enum
    ("", {"filter[answers.nope]": "1"}, "filter[answers.nope]"),
    ("", {"filter[answers.age][gte]": "old"}, "filter[answers.age][gte]"),
    ("", {"filter[status]": "lost"}, "filter[status]"),
    ("", {"created_after": "yesterday"}, "created_after"),
    ("", {"format": "xml"}, "format"),
    ("", {"limit": "5"}, "limit"),  # a list parameter, not a filter
    ("/timeseries", {"interval": "hour"}, "interval"),
    ("/timeseries", {"tz": "Mars/Olympus_Mons"}, "tz"),
    ("/timeseries", {"tz": "../../etc/passwd"}, "tz"),
    ("/timeseries", {"tz": "localtime"}, "tz"),  # a file Python's zoneinfo would read, not a zone
    ("/timeseries", {"split_by": "topic"}, "split_by"),
])
def test_bad_input_is_a_400_naming_the_parameter(api: Api, seeded: dict[str, Any], path: str,
                                                 args: dict[str, str], param: str) -> None:
    _error(api.get(URL + path, query_string=args), 400, param)


def test_viewer_sees_counts_only_of_sensitive_fields(client: FlaskClient, svc: Services) -> None:
    key = make_user_key(svc, "vera", "viewer", "read")
    viewer = svc.store.get_user_by_name("vera")
    seed(svc.store, svc.settings.export_dir, owner_id=viewer["id"])  # type: ignore[index]
    body = Api(client, key).get(URL).json
    assert body["fields"]["secret"] == {"kind": "string", "count": 2, "missing": 4, "redacted": True}
    assert body["fields"]["note"]["redacted"] is False and body["fields"]["note"]["top"][0]["value"] == "hi"


def test_unknown_form_is_404(api: Api) -> None:
    assert api.get("/api/v1/forms/01JNOSUCHFORM0000000000000/analytics").status_code == 404


def test_openapi_documents_both_endpoints(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").json["paths"]
    assert "get" in paths["/api/v1/forms/{form_id}/analytics"]
    names = {p["name"] for p in paths["/api/v1/forms/{form_id}/analytics/timeseries"]["get"]["parameters"]}
    assert {"interval", "tz", "filter[status]"} <= names


def test_with_redis_down_it_computes(tmp_path: Path, password_hash: str) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    app = create_app(make_settings(tmp_path, redis.url))
    svc: Services = app.extensions["fms"]
    user = seed_user(svc, "root", "admin", password_hash)
    key, _ = svc.auth.create_api_key(user["id"], "manage", None, "test", actor="test")
    seed(svc.store, svc.settings.export_dir)
    api = Api(app.test_client(), key)
    assert api.get(URL).json["cached"] is False
    assert api.get(URL).json["cached"] is True
    redis.stop()
    for _ in range(2):
        resp = api.get(URL)
        assert resp.status_code == 200 and resp.json["cached"] is False and resp.json["total"] == 6
    ts = api.get(f"{URL}/timeseries")
    assert ts.status_code == 200 and len(ts.json["points"]) == 3
