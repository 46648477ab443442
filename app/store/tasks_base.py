"""Store extensions for task processing: task records and done-marks (webhooks: :mod:`app.store.webhooks_base`).

Kept apart from :mod:`app.store.base` so the task system can grow without
touching the core interface. Both backends inherit a mixin built on this
class; the tables and indexes are created by the numbered migrations
(:mod:`app.store.migrations`), like every other table.

Records are plain dicts shaped the same in both backends (the fields below,
in this order, ``None`` when unset); JSON fields hold any JSON value.
"""

from __future__ import annotations

import abc

from app.store.records import Record, shape

__all__ = ["FINISHED_STATES", "TASK_FIELDS", "TASK_JSON", "TASK_STATES", "Record", "TasksStore", "shape"]

TASK_STATES = ("queued", "running", "succeeded", "failed", "dead", "cancelled")
FINISHED_STATES = ("succeeded", "failed", "dead", "cancelled")
TASK_FIELDS = (
    "id", "actor", "queue", "state", "progress", "note", "attempts", "max_retries", "message",
    "result", "error", "request_id", "created_by", "cancel_requested", "created_at", "enqueued_at",
    "started_at", "finished_at", "updated_at",
)
TASK_JSON = frozenset({"message", "result", "error"})


class TasksStore(abc.ABC):
    """What the task system asks of a database (implemented by both backends' mixins)."""

    # task records ------------------------------------------------------------
    @abc.abstractmethod
    def put_task(self, task: Record) -> bool:
        """Insert a task record; False (and nothing written) when its id exists."""

    @abc.abstractmethod
    def get_task(self, task_id: str) -> Record | None: ...

    @abc.abstractmethod
    def update_task(self, task_id: str, changes: Record, states: tuple[str, ...] | None = None) -> Record | None:
        """Apply ``changes`` if the record exists (and is in one of ``states``); the new record or None."""

    @abc.abstractmethod
    def list_tasks(self, state: str | None, created_by: str | None, after: tuple[str, str] | None,
                   limit: int) -> list[Record]:
        """Newest first, keyset-paginated by (created_at, id)."""

    @abc.abstractmethod
    def count_tasks(self, state: str) -> int: ...

    @abc.abstractmethod
    def purge_tasks(self, finished_before: str) -> int:
        """Delete finished records older than the given time (retention)."""

    # done-marks (idempotency of side effects such as e-mail) ------------------------
    @abc.abstractmethod
    def mark_done(self, key: str, at: str) -> bool:
        """Record that ``key`` happened; False when it was already recorded."""

    @abc.abstractmethod
    def is_done(self, key: str) -> bool: ...
