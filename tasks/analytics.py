"""Analytics actors (queue ``analytics``): admin SQL in the DuckDB sandbox, large exports to a file,
summaries and time series of forms too big to compute in the API.

All are tracked tasks started by the API (202 + task id). None retries a
failure that the input caused: a forbidden or timed-out query fails at once
with the reason in the task's error; an export is retried once, because a
store hiccup mid-way is worth one more pass (the file is rewritten whole); a
summary is retried once for the same reason (it only rewrites a cache entry).
"""

from __future__ import annotations

import time
from typing import Any

from tasks import runtime
from tasks.broker import actor
from tasks.errors import Permanent, Retryable, TaskCancelled, is_retryable
from tasks.middleware import RESULT_LIMIT, current_task, last_attempt
from tasks.progress import progress

PROGRESS_EVERY_S = 0.5
RESULT_MARGIN = 1_000  # room for the task record's own keys around the result


@actor("analytics.sql", track=True, max_retries=0)
def sql_query(sql: str, max_rows: int | None = None) -> dict[str, Any]:
    """Run one read-only SELECT over the ``submissions`` view; the rows are the task's result."""
    from etl import sandbox  # DuckDB: the API loads every actor module on its first enqueue, and needs none of it

    settings = runtime.settings()
    progress(1.0, "running")
    try:
        result = sandbox.run_query(sql, settings.export_dir, sandbox.temp_root(settings),
                                   sandbox.Limits.from_settings(settings), max_rows,
                                   max_bytes=RESULT_LIMIT - RESULT_MARGIN)
    except sandbox.SqlError as exc:
        raise Permanent(f"{exc.code}: {exc}") from exc
    return result.to_dict()


@actor("analytics.summary", track=True, max_retries=1)
def summary(kind: str, form_id: str, args: dict[str, str], hide: list[str], claim: str) -> dict[str, Any]:
    """Compute a form's summary or time series (``kind``) into the analytics cache, where the API's next GET
    finds it; ``claim`` is the cache key the API claimed for this task, dropped when the task ends for good
    (done, failed with no retry left, or failed in a way no retry helps), so it counts in flight until then.

    The result itself stays in the cache (the task record only says what was computed): whoever
    may read the form reads it there, with the redaction ``hide`` the request had.
    """
    from app.analytics.service import AnalyticsService, CacheWriteFailed
    from app.errors import ApiError

    svc = runtime.services()
    analytics = AnalyticsService.from_settings(svc.store, svc.cache, svc.settings, svc.cursors)
    task = current_task()
    task_id = task["id"] if task else ""
    try:
        progress(1.0, f"computing {kind}")
        try:
            form = svc.forms.get(form_id)
            result = analytics.compute(kind, form, args, frozenset(hide))
        except ApiError as exc:  # the form went or changed under the request (a field gone): no retry helps
            raise Permanent(exc.message) from exc
        except CacheWriteFailed as exc:  # a Redis hiccup: the next attempt may write it
            raise Retryable(str(exc)) from exc
    except BaseException as exc:
        if last_attempt() or not is_retryable(exc):  # a retry keeps the claim, and its place in the bounds
            analytics.release_claim(form_id, claim, task_id)
        raise
    analytics.release_claim(form_id, claim, task_id)
    progress(100.0, kind)
    return {"form_id": form_id, "kind": kind, "as_of": result.get("as_of"), "total": result.get("total")}


class _Ticker:
    """Export progress → the task record, at most every PROGRESS_EVERY_S (and a cancellation point)."""

    def __init__(self) -> None:
        self.last = time.monotonic() - PROGRESS_EVERY_S  # the first page reports at once

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        progress(min(99.0, 100.0 * done / max(1, total)), f"{done} of {total} rows")


@actor("analytics.export", track=True, max_retries=1)
def export(export_id: str) -> dict[str, Any]:
    """Write export ``export_id`` (format and filters fixed at request time; redaction that of the request
    plus the form's sensitive fields now, see :meth:`ExportService.hidden_at_run`) to its file."""
    from app.errors import ApiError
    from app.exports.service import ExportService

    svc = runtime.services()
    exports = ExportService(svc.store, svc.settings)
    try:
        meta = exports.run(export_id, svc.cursors, on_progress=_Ticker())
    except ApiError as exc:
        exports.mark_failed(export_id, exc.message)
        raise Permanent(exc.message) from exc
    except TaskCancelled:
        exports.mark_failed(export_id, "cancelled")
        raise
    progress(100.0, f"{meta['rows']} rows")
    return {"export_id": export_id, "format": meta["format"], "rows": meta["rows"], "bytes": meta["bytes"],
            "expires_at": meta["expires_at"], "download_url": f"/api/v1/exports/{export_id}/download"}
