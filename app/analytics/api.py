"""Analytics over HTTP: form summaries and time series, and admin SQL.

``GET /api/v1/forms/{id}/analytics`` and ``.../analytics/timeseries`` need what
reading the form's submissions needs; sensitive fields show counts only to
callers who may not see them; the query-string filters are the submissions
list's (see :mod:`app.analytics.service`).

``POST /api/v1/analytics/query`` (administrators only) takes one read-only
``SELECT`` over the ``submissions`` view of the exported Parquet files and
answers ``202 {task_id}``; the ``analytics.sql`` task runs it in DuckDB's
sandbox and ``GET /api/v1/tasks/{id}`` shows ``{columns, rows, truncated,
row_limit, elapsed_ms}`` or the error. Forbidden or malformed SQL is refused
here with 400 ``sql_forbidden``/``sql_invalid`` before anything is enqueued:
the statement is parsed and bound (not run) in the same sandbox the task uses.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from app.analytics.service import RETRY_AFTER_S, AnalyticsService, Pending
from app.errors import BadRequest, NotFound
from app.http import accepted, hidden_fields, json_body, json_response, principal, require_form, services
from app.openapi import FILTER_PARAMS, RETRY_AFTER_HEADER, TASK_ACCEPTED_EXAMPLE, Operation, busy_response
from app.store import Record
from app.tasks_api.service import TaskService
from app.validation import body_validator, check

bp = Blueprint("analytics", __name__, url_prefix="/api/v1")
MAX_SQL_CHARS = 100_000
QUERY_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["sql"],
    "properties": {
        "sql": {"type": "string", "minLength": 1, "maxLength": MAX_SQL_CHARS,
                "description": "One SELECT over the `submissions` view (columns in the README)."},
        "max_rows": {"type": "integer", "minimum": 1,
                     "description": "Rows to return at most; capped by FMS_SQL_MAX_ROWS."},
    },
}
QUERY_BODY = body_validator(QUERY_BODY_SCHEMA)


def _service() -> AnalyticsService:
    svc = services()
    return AnalyticsService.from_settings(svc.store, svc.cache, svc.settings, svc.cursors, svc.dispatch)


def _computing(pending: Pending, form: Record) -> Response:
    """202 while a worker computes: GitHub's statistics API does the same; the client GETs again after
    ``Retry-After`` (the task writes the cache entry that GET reads) or follows the task.

    The task is named (``task_id``, ``status_url``, ``Location``) only to a caller who may see it on
    ``/api/v1/tasks`` (its creator, an administrator): requests for the same result share the first
    caller's task, and a link that 404s for everyone else helps nobody. Not the other way round
    (tasks of this actor visible to every reader of the form): that would be a second visibility rule
    in the tasks API for one actor, and the record shows its creator and the arguments they asked with.
    """
    body = {"form_id": form["id"], "retry_after": RETRY_AFTER_S}
    if _sees_task(pending.task_id):
        response = accepted(pending.task_id, **body)
    else:
        response = json_response(body, 202)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _sees_task(task_id: str) -> bool:
    """Whether ``GET /api/v1/tasks/{task_id}`` would answer this caller (one store read)."""
    try:
        TaskService(services().store).get(task_id, principal())
    except NotFound:
        return False
    return True


@bp.get("/forms/<form_id>/analytics")
def summary(form_id: str) -> Response:
    form = require_form(form_id, "read")
    result, fmt = _service().summary(form, request.args, hidden_fields(form), principal().user_id)
    if isinstance(result, Pending):
        return _computing(result, form)
    if fmt == "csv":
        from etl.analytics import summary_csv  # DuckDB and pyarrow load on the first analytics request

        return Response(summary_csv(result), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="analytics-{form_id}.csv"', "Cache-Control": "no-store"})
    return json_response(result)


@bp.get("/forms/<form_id>/analytics/timeseries")
def timeseries(form_id: str) -> Response:
    form = require_form(form_id, "read")
    result = _service().timeseries(form, request.args, hidden_fields(form), principal().user_id)
    if isinstance(result, Pending):
        return _computing(result, form)
    return json_response(result)


@bp.post("/analytics/query")
def sql_query() -> Response:
    from etl import sandbox

    me = principal()
    me.require_admin()
    me.require("read")
    body = json_body()
    check(QUERY_BODY, body, "query is invalid")
    settings = services().settings
    max_rows = min(int(body.get("max_rows") or settings.sql_max_rows), settings.sql_max_rows)
    try:
        sandbox.validate(body["sql"], settings.export_dir, sandbox.temp_root(settings),
                         sandbox.Limits.from_settings(settings))
    except sandbox.SqlError as exc:
        raise BadRequest.field("/sql", str(exc), code=exc.code) from exc
    return accepted(services().dispatch.enqueue_tracked("analytics.sql", (body["sql"], max_rows),
                                                        created_by=me.user_id))


_COMPUTING = ("The result is being computed on the `analytics` queue (by default every uncached one is: "
              "FMS_ANALYTICS_INLINE_MAX_ROWS=0; or the form holds more than that many submissions, or the host's "
              "analytics lock stayed busy) and was not in the cache within FMS_ANALYTICS_QUEUE_WAIT. `Retry-After` "
              "says when to GET again (that GET answers 200 from the cache once the task is done). Concurrent "
              "requests for the same result share one task; `task_id`/`status_url` (also `Location`) name it only "
              "for a caller who may see it (its creator, an administrator). Once a result has been computed, a miss "
              "after new submissions is a 200 instead: the latest result with `stale: true` and its `as_of`, while "
              "one task computes the newest.")
_COMPUTING_EXAMPLE = {"form_id": "01JD8W9T3K6N2P4R7V1X5Z8B0C", "retry_after": RETRY_AFTER_S, **TASK_ACCEPTED_EXAMPLE}
_COMPUTING_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["form_id", "retry_after"],
    "properties": {
        "form_id": {"type": "string"},
        "retry_after": {"type": "integer", "minimum": 1, "description": "Seconds; also the `Retry-After` header."},
        "task_id": {"type": "string", "description": "The task computing it, for a caller who may see it."},
        "status_url": {"type": "string", "description": "`/api/v1/tasks/{task_id}`, with `task_id`."},
    },
}
_COMPUTING_RESPONSE = {
    "description": _COMPUTING,
    "headers": {"Retry-After": RETRY_AFTER_HEADER,
                "Location": {"description": "The task's status URL, with `task_id`.", "schema": {"type": "string"}}},
    "content": {"application/json": {"schema": _COMPUTING_SCHEMA, "example": _COMPUTING_EXAMPLE}},
}
_BUSY = busy_response(
    "Too many summaries are queued or running (FMS_ANALYTICS_MAX_PENDING, FMS_ANALYTICS_MAX_PENDING_PER_FORM: "
    "`details[0].scope` is `host` or `form`) and no earlier result of this one is cached; or, with "
    "FMS_ANALYTICS_INLINE_MAX_ROWS > 0 and no Redis, the host's analytics lock stayed busy. Ask again after "
    "`Retry-After`.",
    [{"reason": "too_many_pending", "scope": "form", "limit": 4, "retry_after": RETRY_AFTER_S}])
OPERATIONS = (
    Operation("get", "/api/v1/forms/{form_id}/analytics", "analytics",
              "Summary of every field by its type, status and drafts; cached, `as_of` says when computed, `stale` that "
              "newer submissions are not in it yet", (200, 202),
              query=(*FILTER_PARAMS, ("split_by", "string", "An enum or boolean field: the summary per top option."),
                     ("format", "string", "`json` (default) or `csv` (one long table).")),
              responses={202: _COMPUTING_RESPONSE, 503: _BUSY}),
    Operation("get", "/api/v1/forms/{form_id}/analytics/timeseries", "analytics",
              "Submissions per day, week or month in a time zone, by status; `as_of`, `cached`, `stale` as the "
              "summary's", (200, 202),
              query=(*FILTER_PARAMS, ("interval", "string", "`day` (default), `week` (from Monday) or `month`."),
                     ("tz", "string", "IANA time zone of the buckets (default UTC).")),
              responses={202: _COMPUTING_RESPONSE, 503: _BUSY}),
    Operation("post", "/api/v1/analytics/query", "analytics",
              "Admin SQL over the exported submissions, sandboxed (202 + task id; result on the task)", 202,
              QUERY_BODY_SCHEMA,
              request_example={"sql": "SELECT status, count(*) AS n FROM submissions GROUP BY status ORDER BY n DESC",
                               "max_rows": 100},
              response_example=TASK_ACCEPTED_EXAMPLE),
)
