"""SQLite implementation of :class:`AnalyticsStore` (mixed into SQLiteStore).

The live part is grouped by SQLite itself (``json_each`` over the answers,
``GROUP BY``), so only counts cross into Python. Uses the host class's
``_all``, ``_one`` and ``submission_where``.
"""

from __future__ import annotations

import json
from typing import Any

from app.store.analytics_base import AnalyticsStore, LiveAggregates, LiveSpec, Segment
from app.store.base import SubmissionQuery

# Bumped in the same transaction as each submission write (see SQLiteStore).
_BUMP = " ON CONFLICT (form_id) DO UPDATE SET version = version + 1"
DATA_VERSION_SQL = "INSERT INTO form_data_versions (form_id, version) VALUES (?, 1)" + _BUMP
# Kept by purge_submissions for every row it hard-deletes: a purged row's copy in an exported day
# would otherwise count again once the row is gone from the store.
TOMBSTONE_SQL = ("INSERT OR IGNORE INTO purged_submissions (id, form_id, created_at) "
                 "SELECT id, form_id, created_at FROM submissions WHERE id IN ({marks})")
DATA_VERSION_BY_SUB_SQL = ("INSERT INTO form_data_versions (form_id, version) "
                           "SELECT form_id, 1 FROM submissions WHERE id = ?" + _BUMP)


def _path(name: str) -> str:
    return "$." + json.dumps(name)


def _segments_sql(segments: tuple[Segment, ...]) -> tuple[str, list[Any]]:
    parts, params = [], []
    for seg in segments:
        conds = []
        if seg.start is not None:
            conds.append("created_at >= ?")
            params.append(seg.start)
        if seg.end is not None:
            conds.append("created_at < ?")
            params.append(seg.end)
        if seg.updated_after is not None:
            conds.append("updated_at > ?")
            params.append(seg.updated_after)
        parts.append("(" + (" AND ".join(conds) or "1") + ")")
    return "(" + (" OR ".join(parts) or "0") + ")", params


def _value(kind: str, raw: Any) -> Any:
    """A json_each value as Python: booleans come back as 1/0, arrays and objects as JSON text."""
    if kind in {"true", "false"}:
        return kind == "true"
    if kind in {"array", "object"}:
        return json.loads(raw)
    return raw


# Partial index (created in SQLiteStore's schema) of the rows ever changed after they were written
# (patched, deleted, restored): the only ones of an exported day that can differ from its file.
# Small, so the live part never scans a whole form.
CHANGED_INDEX = "submissions_changed"


class AnalyticsSQLiteMixin(AnalyticsStore):
    """Live aggregates on the SQLite store; the host class provides these (declared for the type checker)."""

    _one: Any
    _all: Any
    submission_where: Any

    def _live_sql(self, spec: LiveSpec, split: str, split_params: list[Any]) -> tuple[str, list[Any]]:
        """The live rows as one ``UNION ALL``: whole created_at ranges by the form index, changed
        rows of exported days by the small partial index of changed rows."""
        where, params = self.submission_where(spec.query)
        cols = f"SELECT {split} AS sv, answers, status, created_at FROM submissions"
        parts: list[str] = []
        out: list[Any] = []
        for seg in (s for s in spec.segments if s.updated_after is None):
            seg_sql, seg_params = _segments_sql((seg,))
            parts.append(f"{cols} WHERE {where} AND {seg_sql}")
            out.extend([*split_params, *params, *seg_params])
        changed = tuple(s for s in spec.segments if s.updated_after is not None)
        if changed:
            seg_sql, seg_params = _segments_sql(changed)
            parts.append(f"{cols} INDEXED BY {CHANGED_INDEX} WHERE {where} AND updated_at > created_at AND {seg_sql}")
            out.extend([*split_params, *params, *seg_params])
        if not parts:
            return f"{cols} WHERE 0", split_params
        return " UNION ALL ".join(parts), out

    def _split_col(self, split_by: str | None) -> tuple[str, list[Any]]:
        if split_by is None:
            return "NULL", []
        return "json_extract(answers, ?)", [_path(split_by)]

    def analytics_live(self, spec: LiveSpec) -> LiveAggregates:
        split, split_params = self._split_col(spec.split_by)
        live, params = self._live_sql(spec, split, split_params)
        out = LiveAggregates()
        if spec.groups:
            rows = self._all(
                f"SELECT sv, status, substr(created_at, 1, 16) AS minute, COUNT(*) AS n FROM ({live}) "
                "GROUP BY sv, status, minute", tuple(params))
            out.groups = [(r["sv"], r["status"], r["minute"], r["n"]) for r in rows]
        if spec.fields:
            marks = ", ".join("?" * len(spec.fields))
            rows = self._all(
                f"SELECT s.sv, je.key AS k, je.type AS t, je.value AS v, COUNT(*) AS n FROM ({live}) s, "
                f"json_each(s.answers) je WHERE je.key IN ({marks}) AND je.type != 'null' "
                "GROUP BY s.sv, je.key, je.type, je.value", (*params, *spec.fields))
            out.values = [(r["sv"], r["k"], _value(r["t"], r["v"]), r["n"]) for r in rows]
        stale = tuple(s for s in spec.segments if s.updated_after is not None)
        if stale and spec.groups:
            seg_sql, seg_params = _segments_sql(stale)
            gone_sql, gone_params = _segments_sql(tuple(Segment(s.start, s.end) for s in stale))
            rows = self._all(
                f"SELECT id FROM submissions INDEXED BY {CHANGED_INDEX} WHERE form_id = ? "
                f"AND updated_at > created_at AND {seg_sql} "
                f"UNION SELECT id FROM purged_submissions WHERE form_id = ? AND {gone_sql}",
                (spec.query.form_id, *seg_params, spec.query.form_id, *gone_params))
            out.stale_ids = [r["id"] for r in rows]
        return out

    def completed_drafts(self, query: SubmissionQuery, split_by: str | None) -> list[tuple[Any, int]]:
        """A completed draft was changed after it was written, so only the changed rows are looked at."""
        where, params = self.submission_where(query)
        split, split_params = self._split_col(split_by)
        rows = self._all(
            f"SELECT sv, COUNT(*) AS n FROM (SELECT id, status, {split} AS sv FROM submissions "
            f"INDEXED BY {CHANGED_INDEX} WHERE {where} AND updated_at > created_at) s "
            "WHERE s.status != 'draft' AND EXISTS (SELECT 1 FROM revisions r WHERE r.submission_id = s.id "
            "AND r.rev = 1 AND r.status = 'draft') GROUP BY sv", (*split_params, *params))
        return [(r["sv"], r["n"]) for r in rows]

    def data_version(self, form_id: str) -> int:
        row = self._one("SELECT version FROM form_data_versions WHERE form_id = ?", (form_id,))
        return int(row["version"]) if row else 0

    def form_row_count(self, form_id: str) -> int:
        """``COUNT(*)`` over the ``submissions_by_form`` index range (no table row is read)."""
        row = self._one("SELECT COUNT(*) AS n FROM submissions WHERE form_id = ?", (form_id,))
        return int(row["n"]) if row else 0
