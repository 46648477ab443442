"""What a running actor may call: report progress, check for cancellation."""

from __future__ import annotations

from app.util import now_iso
from tasks import runtime
from tasks.errors import TaskCancelled
from tasks.middleware import current_task


def progress(percent: float, note: str | None = None) -> None:
    """Record progress (0-100) of the current tracked task; raise if it was cancelled.

    Also a cancellation point: long loops that report progress stop promptly
    when ``POST /tasks/{id}/cancel`` is called.
    """
    task = current_task()
    if not task or not task.get("tracked"):
        return
    changes = {"progress": max(0.0, min(100.0, float(percent))), "updated_at": now_iso()}
    if note is not None:
        changes["note"] = note[:500]
    rec = runtime.services().store.update_task(task["id"], changes, states=("running",))
    if rec is not None and rec["cancel_requested"]:
        raise TaskCancelled(task["id"])
