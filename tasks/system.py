"""Small built-in actors: a no-op on ``high`` (benchmarks, smoke checks) and retention."""

from __future__ import annotations

from app.util import now_iso
from tasks import runtime
from tasks.broker import actor


@actor("system.noop", max_retries=0)
def noop(*_args: object) -> None:
    """Does nothing: measures the queue itself."""


@actor("system.purge_tasks", track=True)
def purge_tasks(days: int | None = None) -> int:
    """Delete finished task records older than the retention period."""
    keep = days if days is not None else runtime.settings().task_retention_days
    return int(runtime.services().store.purge_tasks(now_iso(-keep * 86400)))
