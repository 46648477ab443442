"""``/api/v1/tasks``: task state, progress, retry and cancel."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.http import int_arg, json_response, principal, services
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


TASK_OPERATIONS = [
    ("get", "/api/v1/tasks/{task_id}", "tasks", "Task state, progress, attempts, timings, result or error", 200,
     None, False, []),
    ("get", "/api/v1/tasks", "tasks", "List tasks (yours; all for admins)", 200, None, False,
     [("state", "string", "queued, running, succeeded, failed, dead or cancelled."),
      ("limit", "integer", "Page size, 1 to 1000."), ("cursor", "string", "Cursor from `next_cursor`.")]),
    ("post", "/api/v1/tasks/{task_id}/retry", "tasks", "Run a failed, dead or cancelled task again", 202,
     None, False, []),
    ("post", "/api/v1/tasks/{task_id}/cancel", "tasks",
     "Cancel a queued task (200) or ask a running one to stop (202)", 200, None, False, []),
]


def _document() -> None:
    from app.openapi import EXTRA_OPERATIONS

    EXTRA_OPERATIONS.extend(op for op in TASK_OPERATIONS if op not in EXTRA_OPERATIONS)


_document()
