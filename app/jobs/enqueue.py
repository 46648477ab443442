"""Starting work from an HTTP request: enqueue now, or through the outbox while Redis is down.

Every blueprint that starts a task (AI fill and summaries, benchmarks,
exports, admin SQL, webhook redelivery) goes through here, so they all keep
the same promise: once the response is sent the work is in the store or the
broker, and a Redis outage still answers ``202`` with a ``queued`` task
(:mod:`tasks.deferred`). HTTP layer: it reads the caller from the request;
the actors and the store know nothing of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Response

from app.http import json_response, principal, services


def enqueue_messages(messages: Sequence[Any]) -> bool:
    """Enqueue ``messages`` (True), or hand them to the outbox when Redis is unreachable (False)."""
    from tasks.broker import current
    from tasks.deferred import enqueue_or_defer

    return enqueue_or_defer(current(), services().store, messages)


def enqueue_tracked(actor_obj: Any, *args: Any, task_form: str | None = None, **kwargs: Any) -> str:
    """Send a tracked task for the caller; while Redis is down it waits in the outbox (still a 202).

    ``task_form`` names the form the task works on (message option ``form_id``): whoever loses
    sight of that form no longer sees the task either (:class:`app.jobs.service.JobService`).
    """
    from tasks.broker import message_for

    options = {"form_id": task_form} if task_form else None
    msg = message_for(actor_obj, *args, created_by=principal().user_id, options=options, **kwargs)
    enqueue_messages([msg])
    return str(msg.message_id)


def accepted(task_id: str, **extra: Any) -> Response:
    """``202`` naming the task, its status URL (and ``Location``) and whatever else the caller needs."""
    return json_response({**extra, "task_id": task_id, "status_url": f"/api/v1/tasks/{task_id}"}, 202,
                         headers={"Location": f"/api/v1/tasks/{task_id}"})
