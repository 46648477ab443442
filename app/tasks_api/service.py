"""Task records: read, list, retry and cancel — the rules, without Flask or Dramatiq.

Retrying needs the broker; this layer only moves the record back to
``queued`` and hands the stored message to the caller (the HTTP view, through
the dispatcher of :mod:`app.dispatch`, or the CLI), which enqueues it.
"""

from __future__ import annotations

import base64
import builtins
import json
from typing import Any

from app.auth.access import can_see, require_form
from app.auth.service import Principal
from app.errors import BadRequest, Conflict, Forbidden, NotFound
from app.store import FmsStore, Record
from app.store.tasks_base import FINISHED_STATES, TASK_STATES
from app.util import now_iso

RETRYABLE_STATES = ("failed", "dead", "cancelled")
PUBLIC_FIELDS = ("id", "actor", "queue", "state", "progress", "note", "attempts", "max_retries", "result", "error",
                 "request_id", "created_by", "cancel_requested", "created_at", "enqueued_at", "started_at",
                 "finished_at", "updated_at")


def public_task(rec: Record) -> Record:
    out = {k: rec.get(k) for k in PUBLIC_FIELDS}
    out["cancel_requested"] = bool(out["cancel_requested"])
    out["timings"] = _timings(rec)
    return out


def _timings(rec: Record) -> dict[str, float | None]:
    from app.util import parse_iso

    def secs(a: str | None, b: str | None) -> float | None:
        if not a or not b:
            return None
        return round((parse_iso(b) - parse_iso(a)).total_seconds(), 6)

    return {"queued_s": secs(rec.get("enqueued_at"), rec.get("started_at")),
            "run_s": secs(rec.get("started_at"), rec.get("finished_at"))}


def encode_cursor(rec: Record) -> str:
    return base64.urlsafe_b64encode(json.dumps([rec["created_at"], rec["id"]]).encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    try:
        created, row_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(created), str(row_id)
    except (ValueError, TypeError) as exc:
        raise BadRequest.field("cursor", "cursor is not valid") from exc


def task_form_id(rec: Record) -> str | None:
    """The form a task works on: the ``form_id`` option its sender set (``Dispatcher.enqueue_tracked``)."""
    options = (rec.get("message") or {}).get("options") or {}
    form_id = options.get("form_id")
    return form_id if isinstance(form_id, str) else None


class TaskService:
    def __init__(self, store: FmsStore) -> None:
        self.store = store

    def get(self, task_id: str, me: Principal | None = None) -> Record:
        rec = self.store.get_task(task_id)
        if rec is None or (me is not None and not self._may_see(me, rec)):
            raise NotFound(f"task {task_id} not found", code="task_not_found")
        return rec

    def _may_see(self, me: Principal, rec: Record) -> bool:
        """Admins see every task; others their own, and of those only the ones whose form they still see."""
        if me.is_admin:
            return True
        if rec.get("created_by") != me.user_id:
            return False
        form_id = task_form_id(rec)
        return form_id is None or can_see(self.store, me, form_id)

    def _changeable(self, task_id: str, me: Principal | None) -> Record:
        """The task, if ``me`` may retry or cancel it: a task of a form needs ``write`` on that form."""
        rec = self.get(task_id, me)
        form_id = task_form_id(rec)
        if me is not None and form_id is not None:
            require_form(self.store, me, form_id, "write")
        return rec

    def list(self, state: str | None, me: Principal | None, cursor: str | None, limit: int
             ) -> tuple[list[Record], str | None]:
        if state is not None and state not in TASK_STATES:
            raise BadRequest.field("state", f"state must be one of {', '.join(TASK_STATES)}")
        if not 1 <= limit <= 1000:
            raise BadRequest.field("limit", "limit must be between 1 and 1000")
        created_by = None if me is None or me.is_admin else me.user_id
        rows = self.store.list_tasks(state, created_by, decode_cursor(cursor), limit)
        next_cursor = encode_cursor(rows[-1]) if len(rows) == limit else None  # follows the unfiltered page
        return [r for r in rows if me is None or self._may_see(me, r)], next_cursor

    def prepare_retry(self, task_id: str, me: Principal | None = None) -> Record:
        """Move a failed/dead/cancelled task back to ``queued``; the caller enqueues its stored message.

        The record is reset here (not by the broker middleware) so a replay
        works from any process, even one that never imported the actor.
        """
        rec = self._changeable(task_id, me)
        if me is not None and not me.is_admin and rec.get("created_by") != me.user_id:
            raise Forbidden("only the task's creator or an administrator may retry it")
        if rec["state"] not in RETRYABLE_STATES:
            raise Conflict(f"task is {rec['state']}; only failed, dead or cancelled tasks can be retried",
                           code="task_not_retryable")
        if not rec.get("message"):
            raise Conflict("task has no stored message to replay", code="task_not_retryable")
        now = now_iso()
        queued = self.store.update_task(task_id, {
            "state": "queued", "progress": 0.0, "note": None, "attempts": 0, "error": None, "result": None,
            "cancel_requested": 0, "enqueued_at": now, "started_at": None, "finished_at": None, "updated_at": now,
        }, states=RETRYABLE_STATES)
        if queued is None:  # someone else replayed it a moment ago
            raise Conflict("task is already queued again", code="task_not_retryable")
        return queued

    def cancel(self, task_id: str, me: Principal | None = None) -> Record:
        """Cancel a queued task now; ask a running one to stop (the worker confirms)."""
        rec = self._changeable(task_id, me)
        if rec["state"] in FINISHED_STATES:
            raise Conflict(f"task is already {rec['state']}", code="task_finished")
        now = now_iso()
        done = self.store.update_task(
            task_id, {"state": "cancelled", "cancel_requested": 1, "finished_at": now, "updated_at": now},
            states=("queued",))
        if done is not None:
            return done
        running = self.store.update_task(
            task_id, {"cancel_requested": 1, "updated_at": now}, states=("running",))
        if running is not None:
            return running
        return self.cancel(task_id, me) if self.store.get_task(task_id) else self.get(task_id, me)

    def dead(self, limit: int = 100) -> builtins.list[Record]:
        return self.store.list_tasks("dead", None, None, limit)

    @staticmethod
    def summary(rec: Record) -> dict[str, Any]:
        err = rec.get("error") or {}
        return {"id": rec["id"], "actor": rec["actor"], "attempts": rec["attempts"],
                "finished_at": rec.get("finished_at"), "error": err.get("message")}
