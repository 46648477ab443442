"""Plain records as MongoDB documents (tasks, webhooks, deliveries): ``_id`` = the record id.

Shared by the task and webhook mixins of :class:`app.store.mongo.MongoStore`;
records come out shaped exactly like the SQLite ones (every field, ``None``
when unset).
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from app.store.records import Record, shape
from app.store.tasks_base import TASK_FIELDS
from app.store.webhooks_base import DELIVERY_FIELDS, WEBHOOK_FIELDS

DEFAULTS: dict[str, Record] = {
    "tasks": {"attempts": 0, "cancel_requested": 0},
    "webhooks": {"active": 1, "consecutive_failures": 0, "include_sensitive": 0},
    "deliveries": {"attempts": 0},
}
FIELDS = {"tasks": TASK_FIELDS, "webhooks": WEBHOOK_FIELDS, "deliveries": DELIVERY_FIELDS}
NEWEST = [("created_at", DESCENDING), ("_id", DESCENDING)]
OLDEST = [("created_at", ASCENDING), ("_id", ASCENDING)]


def to_doc(kind: str, record: Record) -> dict[str, Any]:
    rec = shape(FIELDS[kind], {**DEFAULTS[kind], **record})
    for k, v in DEFAULTS[kind].items():
        if rec[k] is None:
            rec[k] = v
    rec["_id"] = rec.pop("id")
    return rec


def from_doc(kind: str, doc: dict[str, Any] | None) -> Record | None:
    if doc is None:
        return None
    return {f: doc.get("_id") if f == "id" else doc.get(f) for f in FIELDS[kind]}


def page_after(flt: dict[str, Any], after: tuple[str, str] | None) -> dict[str, Any]:
    """Keyset pagination, newest first: rows strictly before (created_at, id) = ``after``."""
    if after is None:
        return flt
    created, row_id = after
    return {**flt, "$or": [{"created_at": {"$lt": created}}, {"created_at": created, "_id": {"$lt": row_id}}]}


class MongoRecords:
    """The conditional update; the host class provides ``db``."""

    db: Any

    def _m_update(self, kind: str, row_id: str, changes: Record, states: tuple[str, ...] | None,
                  match: Record | None = None) -> Record | None:
        shape(FIELDS[kind], changes)
        changes = {k: v for k, v in changes.items() if k != "id"}
        flt: dict[str, Any] = {"_id": row_id}
        shape(FIELDS[kind], match or {})
        for k, v in (match or {}).items():
            flt[k] = v if v is not None else {"$in": []}  # None matches nothing (as SQL's = NULL)
        if states is not None:
            flt["state"] = {"$in": list(states)}
        doc = self.db[kind].find_one_and_update(flt, {"$set": changes}, return_document=ReturnDocument.AFTER)
        return from_doc(kind, doc)
