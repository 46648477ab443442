"""POST /api/v1/forms/{id}/exports: an analytics task with progress, an owner-only, expiring download."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from app.services import Services
from tests.conftest import Api, make_user_key
from tests.exports.conftest import seed
from tests.sql.test_query_api import finished


def start(api: Api, form_id: str, body: dict[str, Any]) -> Any:
    return api.post(f"/api/v1/forms/{form_id}/exports", body)


def test_an_export_task_writes_every_row_for_its_owner_only(api: Api, svc: Services, form: dict[str, Any],
                                                            worker: Any) -> None:
    made = seed(svc, form, 2_500)
    resp = start(api, form["id"], {"format": "csv", "filters": {"filter[status]": "approved,rejected"}})
    assert resp.status_code == 202, resp.json
    body = resp.json
    assert body["download_url"] == f"/api/v1/exports/{body['export_id']}/download"
    task = finished(api, body["task_id"])
    want = sum(r["status"] != "submitted" for r in made)
    assert task["state"] == "succeeded" and task["queue"] == "analytics" and task["progress"] == 100.0, task
    assert task["result"]["rows"] == want and task["result"]["export_id"] == body["export_id"]
    assert task["note"] == f"{want} rows"
    got = api.get(body["download_url"])
    assert got.status_code == 200 and got.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert got.headers["Cache-Control"] == "private, no-store"
    rows = list(csv.DictReader(io.StringIO(got.get_data(as_text=True))))
    assert len(rows) == want and {r["status"] for r in rows} == {"approved", "rejected"}
    other_admin = make_user_key(svc, "admin2", "admin", "manage")
    assert api.as_(other_admin).get(body["download_url"]).status_code == 404  # owner only, even for admins
    assert api.as_(None).get(body["download_url"]).status_code == 401


def test_the_task_keeps_the_callers_redaction(api: Api, svc: Services, form: dict[str, Any], worker: Any) -> None:
    seed(svc, form, 3)
    viewer = make_user_key(svc, "viewer2", "viewer", "read")
    user = svc.store.get_user_by_name("viewer2")
    api.put(f"/api/v1/forms/{form['id']}/shares/{user['id']}", {"role": "viewer"})
    resp = start(api.as_(viewer), form["id"], {"format": "jsonl"})
    assert resp.status_code == 202, resp.json
    assert finished(api, resp.json["task_id"])["state"] == "succeeded"
    lines = api.as_(viewer).get(resp.json["download_url"]).get_data(as_text=True).splitlines()
    assert len(lines) == 3 and {json.loads(x)["phone"] for x in lines} == {"[redacted]"}


@pytest.mark.parametrize("link_ttl", [0])
def test_an_expired_link_is_410(api: Api, svc: Services, form: dict[str, Any], worker: Any) -> None:
    seed(svc, form, 3)
    resp = start(api, form["id"], {"format": "parquet"})
    assert finished(api, resp.json["task_id"])["state"] == "succeeded"
    gone = api.get(resp.json["download_url"])
    assert gone.status_code == 410 and gone.json["error"]["code"] == "export_expired"
    assert not list((svc.settings.data_dir / "downloads").glob("*.parquet"))  # the file went with the link
    assert api.get(resp.json["download_url"]).status_code == 410  # and it stays gone


def test_a_download_before_the_task_ran_is_409(api: Api, svc: Services, form: dict[str, Any], broker: Any) -> None:
    resp = start(api, form["id"], {"format": "xlsx"})  # no worker: it stays queued
    assert resp.status_code == 202
    early = api.get(resp.json["download_url"])
    assert early.status_code == 409 and early.json["error"]["code"] == "export_not_ready"
    assert api.get("/api/v1/exports/01NOSUCHEXPORT/download").status_code == 404
    assert api.get("/api/v1/exports/..%2Fsecret_key/download").status_code == 404


@pytest.mark.parametrize(("body", "status", "pointer"), [
    ({"format": "pdf"}, 422, "/format"),
    ({}, 422, "/format"),
    ({"format": "csv", "filters": {"filter[answers.nope]": "1"}}, 400, "/filters/filter[answers.nope]"),
    ({"format": "csv", "filters": {"limit": "5"}}, 400, "/filters/limit"),
    ({"format": "csv", "filters": {"created_after": 5}}, 422, "/filters/created_after"),
])
def test_bad_requests_name_the_field_and_enqueue_nothing(api: Api, svc: Services, form: dict[str, Any],
                                                         broker: Any, body: dict[str, Any], status: int,
                                                         pointer: str) -> None:
    resp = start(api, form["id"], body)
    assert resp.status_code == status, resp.json
    assert pointer in [d["pointer"] for d in resp.json["error"]["details"]]
    assert not svc.store.list_tasks(None, None, None, 10)  # type: ignore[attr-defined]
    assert not list((svc.settings.data_dir / "downloads").glob("*.json"))
