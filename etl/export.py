"""Daily export: one day's submissions to JSON lines and Parquet, per form.

Layout (Hive-style partitions, so DuckDB and pyarrow read them as tables)::

    <export_dir>/jsonl/form_id=<id>/date=<YYYY-MM-DD>/submissions.jsonl
    <export_dir>/parquet/form_id=<id>/date=<YYYY-MM-DD>/submissions.parquet

Memory stays flat: submissions are read in keyset pages and written as they
come. Re-running a day rewrites its files atomically (temp file + rename), so
a re-run after a crash or a late correction never leaves a half-written or
doubled partition. Sensitive fields are redacted unless asked otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from app.forms.sensitive import redact, sensitive_fields
from app.store import Record, Store, SubmissionQuery
from app.util import now_iso

PAGE = 1000
# How long after midnight UTC a day counts as closed: a write stamped 23:59:59.9 may
# still be in flight (group commit, a slow request) when the clock turns.
EXPORT_GRACE = timedelta(minutes=10)
# form_id and date are the partition columns (in the path), as Hive layout expects.
SCHEMA = pa.schema([
    ("id", pa.string()), ("form_version", pa.int64()), ("status", pa.string()),
    ("created_at", pa.string()), ("updated_at", pa.string()), ("answers", pa.string()),
])


@dataclass(frozen=True)
class FormExport:
    form_id: str
    rows: int
    jsonl: Path
    parquet: Path


def day_bounds(day: date) -> tuple[str, str]:
    """``created_after``/``created_before`` (both exclusive) covering the whole UTC day."""
    before_start = f"{(day - timedelta(days=1)).isoformat()}T23:59:59.999999Z"
    next_day = f"{(day + timedelta(days=1)).isoformat()}T00:00:00.000000Z"
    return before_start, next_day


def _forms(store: Store) -> Iterator[Record]:
    after = None
    while True:
        page = store.list_forms(after, 500)
        yield from page
        if len(page) < 500:
            return
        after = page[-1]["id"]


def _submissions(store: Store, form_id: str, day: date) -> Iterator[Record]:
    start, end = day_bounds(day)
    cursor = None
    while True:
        rows = store.query_submissions(SubmissionQuery(form_id=form_id, created_after=start, created_before=end,
                                                       after=cursor, limit=PAGE))
        yield from rows
        if len(rows) < PAGE:
            return
        cursor = (rows[-1]["created_at"], rows[-1]["id"])


def _row(sub: Record, hide: frozenset[str]) -> dict[str, Any]:
    answers = redact(sub["answers"], hide)
    return {"id": sub["id"], "form_id": sub["form_id"], "form_version": sub["form_version"],
            "status": sub["status"], "created_at": sub["created_at"], "updated_at": sub["updated_at"],
            "answers": json.dumps(answers, separators=(",", ":"), ensure_ascii=False)}


def export_form(store: Store, form: Record, day: date, out: Path, include_sensitive: bool = False) -> FormExport:
    hide = frozenset() if include_sensitive else sensitive_fields(form)
    part = f"form_id={form['id']}/date={day.isoformat()}"
    jsonl = out / "jsonl" / part / "submissions.jsonl"
    parquet = out / "parquet" / part / "submissions.parquet"
    for path in (jsonl, parquet):
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp_jsonl, tmp_parquet = jsonl.with_suffix(".jsonl.tmp"), parquet.with_suffix(".parquet.tmp")
    rows, batch = 0, []
    with tmp_jsonl.open("w", encoding="utf-8") as lines, pq.ParquetWriter(tmp_parquet, SCHEMA) as table:
        for sub in _submissions(store, form["id"], day):
            row = _row(sub, hide)
            lines.write(json.dumps(row, ensure_ascii=False) + "\n")
            batch.append({k: v for k, v in row.items() if k != "form_id"})
            rows += 1
            if len(batch) == PAGE:
                table.write_table(pa.Table.from_pylist(batch, schema=SCHEMA))
                batch = []
        if batch or rows == 0:
            table.write_table(pa.Table.from_pylist(batch, schema=SCHEMA))
    os.replace(tmp_jsonl, jsonl)
    os.replace(tmp_parquet, parquet)
    return FormExport(form["id"], rows, jsonl, parquet)


def _roll_up(out: Path, form: Record, day: date) -> None:
    """Pre-compute the analytics rollup of the new file (etl.analytics); failing only means a summary builds it."""
    import logging

    import duckdb

    from etl.analytics import build_rollup

    try:
        build_rollup(out, form, day)
    except (duckdb.Error, OSError) as exc:
        logging.getLogger(__name__).warning("analytics rollup not built", extra={"error": str(exc)})


def due_day(now: datetime | None = None) -> date:
    """The latest day whose export is due: yesterday (UTC), once the grace after midnight passed."""
    return ((now or datetime.now(UTC)) - EXPORT_GRACE).date() - timedelta(days=1)


def marker(out: Path, day: date) -> Path:
    """Written when a day's export completed; schedulers skip days that have one."""
    return out / ".done" / day.isoformat()


def export_day(store: Store, day: date, out: Path, include_sensitive: bool = False) -> list[FormExport]:
    """Export every live form's submissions created on ``day`` (UTC); forms with none are skipped."""
    started_at = now_iso()  # read time: rows changed after it may differ from the files (etl.analytics)
    done = []
    for form in _forms(store):
        start, end = day_bounds(day)
        if store.count_submissions(SubmissionQuery(form_id=form["id"], created_after=start, created_before=end)):
            done.append(export_form(store, form, day, out, include_sensitive))
            _roll_up(out, form, day)
    mark = marker(out, day)
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text(json.dumps({"forms": len(done), "rows": sum(d.rows for d in done), "started_at": started_at,
                                "include_sensitive": include_sensitive}))
    return done
