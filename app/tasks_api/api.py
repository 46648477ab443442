"""``/api/v1/tasks``: task state, progress, retry and cancel."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.http import int_arg, json_response, principal, services
from app.openapi import Operation
from app.tasks_api.service import TaskService, public_task

bp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks")


def _tasks() -> TaskService:
    return TaskService(services().store)


@bp.get("/<task_id>")
def get_task(task_id: str) -> Response:
    me = principal()
    me.require("read")
    return json_response(public_task(_tasks().get(task_id, me)))


@bp.get("")
def list_tasks() -> Response:
    me = principal()
    me.require("read")
    limit = int_arg("limit", 50)
    rows, cursor = _tasks().list(request.args.get("state"), me, request.args.get("cursor"), limit)
    return json_response({"items": [public_task(r) for r in rows], "next_cursor": cursor})


@bp.post("/<task_id>/retry")
def retry_task(task_id: str) -> Response:
    """Run the task again; while Redis is down the message waits in the outbox (still a 202, task queued)."""
    me = principal()
    me.require("write")
    rec = _tasks().prepare_retry(task_id, me)
    services().dispatch.replay(rec["message"])
    return json_response(public_task(_tasks().get(task_id, me)), 202)


@bp.post("/<task_id>/cancel")
def cancel_task(task_id: str) -> Response:
    me = principal()
    me.require("write")
    rec = _tasks().cancel(task_id, me)
    return json_response(public_task(rec), 200 if rec["state"] == "cancelled" else 202)


_TASK_EXAMPLE = {"id": "01JD8X3W6Q9V2N4K7M1P5R8T0Y", "actor": "ai.fill", "queue": "ai", "state": "succeeded",
                 "progress": 1.0, "note": None, "attempts": 1, "max_retries": 1,
                 "result": {"submission_id": "01JD8X4A1C3E5G7J9L1N3Q5S7U"}, "error": None,
                 "request_id": "4f0c9a7e2b8d4e61a3c5f7e9b1d3a5c7", "created_by": "01JD8W9T3K6N2P4R7V1X5Z8B0C",
                 "cancel_requested": False, "created_at": "2026-03-14T10:05:00.000000Z",
                 "enqueued_at": "2026-03-14T10:05:00.000000Z", "started_at": "2026-03-14T10:05:00.120000Z",
                 "finished_at": "2026-03-14T10:05:03.480000Z", "updated_at": "2026-03-14T10:05:03.480000Z",
                 "timings": {"queued_s": 0.12, "run_s": 3.36}}
OPERATIONS = (
    Operation("get", "/api/v1/tasks/{task_id}", "tasks", "Task state, progress, attempts, timings, result or error",
              response_example=_TASK_EXAMPLE),
    Operation("get", "/api/v1/tasks", "tasks", "List tasks (yours; all for admins)",
              query=(("state", "string", "queued, running, succeeded, failed, dead or cancelled."),
                     ("limit", "integer", "Page size, 1 to 1000."), ("cursor", "string", "Cursor from `next_cursor`.")),
              response_example={"items": [_TASK_EXAMPLE], "next_cursor": None}),
    Operation("post", "/api/v1/tasks/{task_id}/retry", "tasks", "Run a failed, dead or cancelled task again", 202,
              response_example={**_TASK_EXAMPLE, "state": "queued", "progress": 0.0, "result": None,
                                "started_at": None, "finished_at": None, "attempts": 0}),
    Operation("post", "/api/v1/tasks/{task_id}/cancel", "tasks",
              "Cancel a queued task (200) or ask a running one to stop (202)", (200, 202)),
)
