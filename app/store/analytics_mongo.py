"""MongoDB implementation of :class:`AnalyticsStore` (mixed into MongoStore).

The live part is aggregation pipelines run by the server (``$match`` on the
list filter, ``$objectToArray`` + ``$unwind`` over the answers, ``$group``),
so only grouped counts come back, never submissions. The per-form data
version lives on the form document (``data_version``, an internal field
never returned in records) and is ``$inc``-ed after each submission write:
a reader takes the version before computing, so a result cached under a
version never predates that version's writes.
"""

from __future__ import annotations

from typing import Any

from app.store.analytics_base import AnalyticsStore, LiveAggregates, LiveSpec, Segment
from app.store.base import StoreError, SubmissionQuery


def _segment(seg: Segment) -> dict[str, Any]:
    created: dict[str, str] = {}
    if seg.start is not None:
        created["$gte"] = seg.start
    if seg.end is not None:
        created["$lt"] = seg.end
    cond: dict[str, Any] = {"created_at": created} if created else {}
    if seg.updated_after is not None:
        # Only rows changed after they were written qualify (see Segment); saying so lets the
        # planner use the small partial index "changed" instead of scanning the day's rows.
        cond["updated_at"] = {"$gt": seg.updated_after}
        cond["rev"] = {"$gt": 1}
    return cond


def _segments(segments: tuple[Segment, ...]) -> dict[str, Any]:
    if not segments:
        return {"_id": {"$exists": False}}  # matches nothing
    return {"$or": [_segment(s) for s in segments]}


def _split_expr(split_by: str | None) -> Any:
    if split_by is None:
        return {"$literal": None}  # a bare null would read as an exclusion in $project
    if "." in split_by or split_by.startswith("$"):
        raise StoreError(f"cannot split on answer field {split_by!r}")
    return f"$answers.{split_by}"


class AnalyticsMongoMixin(AnalyticsStore):
    """Live aggregates on the MongoDB store; the host class provides ``db`` and ``submission_filter``."""

    db: Any
    submission_filter: Any

    def _live_match(self, spec: LiveSpec) -> dict[str, Any]:
        return {"$and": [self.submission_filter(spec.query), _segments(spec.segments)]}

    def analytics_live(self, spec: LiveSpec) -> LiveAggregates:
        subs = self.db.submissions
        match = self._live_match(spec)
        split = _split_expr(spec.split_by)
        out = LiveAggregates()
        if spec.groups:
            groups = subs.aggregate([
                {"$match": match},
                {"$group": {"_id": {"s": split, "st": "$status", "m": {"$substr": ["$created_at", 0, 16]}},
                            "n": {"$sum": 1}}},
            ])
            out.groups = [(g["_id"].get("s"), g["_id"]["st"], g["_id"]["m"], g["n"]) for g in groups]
        if spec.fields:
            values = subs.aggregate([
                {"$match": match},
                {"$project": {"_id": 0, "s": split, "kv": {"$objectToArray": "$answers"}}},
                {"$unwind": "$kv"},
                {"$match": {"kv.k": {"$in": list(spec.fields)}, "kv.v": {"$ne": None}}},
                {"$group": {"_id": {"s": "$s", "k": "$kv.k", "v": "$kv.v"}, "n": {"$sum": 1}}},
            ])
            out.values = [(g["_id"].get("s"), g["_id"]["k"], g["_id"]["v"], g["n"]) for g in values]
        stale = tuple(s for s in spec.segments if s.updated_after is not None)
        if stale and spec.groups:
            found = subs.find({"form_id": spec.query.form_id, **_segments(stale)}, {"_id": 1})
            gone = self.db.purged_submissions.find(
                {"form_id": spec.query.form_id, **_segments(tuple(Segment(s.start, s.end) for s in stale))}, {"_id": 1})
            out.stale_ids = sorted({d["_id"] for d in found} | {d["_id"] for d in gone})
        return out

    def completed_drafts(self, query: SubmissionQuery, split_by: str | None) -> list[tuple[Any, int]]:
        match = {"$and": [self.submission_filter(query),
                          {"status": {"$ne": "draft"}},
                          {"revisions": {"$elemMatch": {"rev": 1, "status": "draft"}}}]}
        rows = self.db.submissions.aggregate([
            {"$match": match}, {"$group": {"_id": {"s": _split_expr(split_by)}, "n": {"$sum": 1}}},
        ])
        return [(r["_id"].get("s"), r["n"]) for r in rows]

    def data_version(self, form_id: str) -> int:
        doc = self.db.forms.find_one({"_id": form_id}, {"data_version": 1})
        return int((doc or {}).get("data_version") or 0)

    def form_row_count(self, form_id: str) -> int:
        """``count_documents`` on ``form_id`` alone, which the submissions' form index answers."""
        return int(self.db.submissions.count_documents({"form_id": form_id}))

    def _tombstone(self, docs: list[dict[str, Any]]) -> None:
        """Remember purged submissions (id, form, created_at): their exported copies must not count again."""
        for d in docs:  # one upsert each (idempotent; mongomock's bulk_write lags pymongo's)
            self.db.purged_submissions.update_one(
                {"_id": d["_id"]}, {"$setOnInsert": {"form_id": d["form_id"], "created_at": d["created_at"]}},
                upsert=True)

    def _bump_data_version(self, form_id: str) -> None:
        self.db.forms.update_one({"_id": form_id}, {"$inc": {"data_version": 1}})
