"""POST /api/v1/analytics/query: admins only, refused before enqueueing when forbidden, run by a real worker."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

import pytest

from app.services import Services
from etl.export import export_day
from tests.conftest import Api, make_user_key
from tests.helpers import wait_for


def finished(api: Api, task_id: str, timeout: float = 20.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = api.get(f"/api/v1/tasks/{task_id}").json
        return body if body["state"] in {"succeeded", "failed", "dead", "cancelled"} else None

    return wait_for(done, timeout, what=f"task {task_id} to finish")  # type: ignore[no-any-return]


def queued_tasks(svc: Services) -> int:
    return len(svc.store.list_tasks(None, None, None, 100))  # type: ignore[attr-defined]


FORBIDDEN = [
    ("SELECT * FROM read_csv('/etc/passwd', sep = ':')", "export directory"),
    ("SELECT * FROM read_parquet('/etc/passwd')", "export directory"),
    ('SELECT * FROM "/etc/passwd"', "export directory"),
    ("COPY (SELECT 1) TO '/tmp/fms-out.csv'", "COPY is not allowed"),
    ("ATTACH '/tmp/fms-other.duckdb' AS o", "ATTACH is not allowed"),
    ("INSTALL httpfs", "INSTALL/LOAD is not allowed"),
    ("LOAD httpfs", "INSTALL/LOAD is not allowed"),
    ("SET enable_external_access = true", "SET/RESET is not allowed"),
    ("RESET memory_limit", "SET/RESET is not allowed"),
    ("PRAGMA enable_profiling", "PRAGMA is not allowed"),
]


@pytest.mark.parametrize(("sql", "why"), FORBIDDEN)
def test_forbidden_sql_is_a_400_that_says_why_and_nothing_is_enqueued(api: Api, svc: Services, sql: str,
                                                                        why: str) -> None:
    resp = api.post("/api/v1/analytics/query", {"sql": sql})
    assert resp.status_code == 400, resp.json
    err = resp.json["error"]
    assert err["code"] == "sql_forbidden" and why in err["message"]
    assert err["details"] == [{"pointer": "/sql", "message": err["message"]}] and err["request_id"]
    assert queued_tasks(svc) == 0


@pytest.mark.parametrize("body", [{"sql": "SELEC 1"}, {"sql": "SELECT * FROM no_such_table"},
                                  {"sql": "SELECT 1; SELECT 2"}])
def test_invalid_sql_is_a_400_sql_invalid(api: Api, svc: Services, body: dict[str, Any]) -> None:
    resp = api.post("/api/v1/analytics/query", body)
    assert resp.status_code == 400 and resp.json["error"]["code"] == "sql_invalid"
    assert resp.json["error"]["details"][0]["pointer"] == "/sql"
    assert queued_tasks(svc) == 0


@pytest.mark.parametrize(("body", "pointer"), [({}, "/sql"), ({"sql": ""}, "/sql"), ({"sql": 1}, "/sql"),
                                               ({"sql": "SELECT 1", "max_rows": 0}, "/max_rows"),
                                               ({"sql": "SELECT 1", "extra": 1}, "/extra")])
def test_a_malformed_body_is_a_422_naming_the_field(api: Api, body: dict[str, Any], pointer: str) -> None:
    resp = api.post("/api/v1/analytics/query", body)
    assert resp.status_code == 422
    assert pointer in [d["pointer"] for d in resp.json["error"]["details"]]


def test_only_administrators_may_query(api: Api, svc: Services) -> None:
    editor = make_user_key(svc, "ed", "editor", "manage")
    resp = api.as_(editor).post("/api/v1/analytics/query", {"sql": "SELECT 1"})
    assert resp.status_code == 403 and resp.json["error"]["code"] == "forbidden"
    assert api.as_(None).post("/api/v1/analytics/query", {"sql": "SELECT 1"}).status_code == 401
    assert queued_tasks(svc) == 0


def test_a_query_runs_as_an_analytics_task_over_the_export(api: Api, svc: Services, form: dict[str, Any],
                                                           worker: Any) -> None:
    from tests.test_export import _seed

    _seed(svc, form, "2026-03-14T10:00:00.000000Z", 4, "a")
    _seed(svc, form, "2026-03-15T10:00:00.000000Z", 2, "b")
    for day in (date(2026, 3, 14), date(2026, 3, 15)):
        export_day(svc.store, day, svc.settings.export_dir)
    sql = f"SELECT date, count(*) AS n FROM submissions WHERE form_id = '{form['id']}' GROUP BY date ORDER BY date"
    resp = api.post("/api/v1/analytics/query", {"sql": sql})
    assert resp.status_code == 202, resp.json
    task = finished(api, resp.json["task_id"])
    assert task["state"] == "succeeded" and task["queue"] == "analytics", task
    result = task["result"]
    assert result["columns"] == [{"name": "date", "type": "DATE"}, {"name": "n", "type": "BIGINT"}]
    assert result["rows"] == [["2026-03-14", 4], ["2026-03-15", 2]]
    assert result["truncated"] is False and result["row_limit"] == 50 and result["elapsed_ms"] >= 0


def test_rows_past_the_limit_come_back_flagged(api: Api, worker: Any) -> None:
    resp = api.post("/api/v1/analytics/query", {"sql": "SELECT range AS n FROM range(1000)", "max_rows": 7})
    result = finished(api, resp.json["task_id"])["result"]
    assert len(result["rows"]) == 7 and result["truncated"] is True and result["row_limit"] == 7
    capped = api.post("/api/v1/analytics/query", {"sql": "SELECT range FROM range(1000)", "max_rows": 10**6})
    assert finished(api, capped.json["task_id"])["result"]["row_limit"] == 50  # FMS_SQL_MAX_ROWS wins


def test_an_endless_query_fails_at_the_time_limit(api: Api, worker: Any) -> None:
    t0 = time.monotonic()
    resp = api.post("/api/v1/analytics/query", {
        "sql": "SELECT count(*) FROM range(1000000) a, range(1000000) b"})
    assert resp.status_code == 202
    task = finished(api, resp.json["task_id"])
    assert task["state"] in {"failed", "dead"} and "time limit of 1.5 s" in task["error"]["message"], task
    assert task["error"]["message"].startswith("sql_timeout")
    assert time.monotonic() - t0 < 1.5 + 8.0
    assert task["attempts"] == 1  # a timeout is not retried


def test_a_wide_result_is_cut_to_the_task_record_and_leaves_no_spill_dir(api: Api, svc: Services,
                                                                          worker: Any) -> None:
    from tasks.middleware import RESULT_LIMIT

    resp = api.post("/api/v1/analytics/query", {"sql": "SELECT range AS n, repeat('x', 5000) AS s FROM range(50)"})
    task = finished(api, resp.json["task_id"])
    result = task["result"]
    assert task["state"] == "succeeded" and result["truncated"] is True and result["truncated_by"] == "size"
    assert 0 < len(result["rows"]) < 50 and [r[0] for r in result["rows"]] == list(range(len(result["rows"])))
    assert len(json.dumps(result)) <= RESULT_LIMIT  # stored whole, not as a truncated string
    temp_root = svc.settings.data_dir / "sql-tmp"
    assert not temp_root.exists() or list(temp_root.iterdir()) == []
