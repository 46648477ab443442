"""One seeded form for the analytics tests: some rows exported, some live, some changed after export.

Days 2025-03-01 and 2025-03-02 are exported by the real daily export
(redacted, as the relay runs it); then r3 (a draft of day 1) is completed
and edited, r2 (day 1) is deleted, and r6/r7 arrive on 2025-03-03, a day
never exported. The expected figures are worked out by hand in the tests.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from app.store import Record, Store
from app.util import now_iso
from etl.export import export_day

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "topic": {"enum": ["billing", "bug", "other"]},
        "ok": {"type": "boolean"},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "nps": {"type": "integer", "minimum": 0, "maximum": 10},
        "note": {"type": "string"},
        "born": {"type": "string", "format": "date"},
        "seen": {"type": "string", "format": "date-time"},
        "secret": {"type": "string"},
    },
}
FORM_ID = "01JANALYTICSFORM0000000000"

ROWS: list[tuple[str, str, str, dict[str, Any]]] = [  # id, created_at, status, answers
    ("r1", "2025-03-01T03:00:00.000000Z", "submitted",
     {"topic": "billing", "ok": True, "tags": ["a", "b"], "age": 30, "nps": 10, "note": "hi", "born": "2000-01-01",
      "seen": "2025-03-01T10:00:00Z", "secret": "s1"}),
    ("r2", "2025-03-01T12:00:00.000000Z", "submitted",
     {"topic": "bug", "ok": False, "tags": ["a"], "age": 40, "nps": 7, "note": "hi", "secret": "s2"}),
    ("r3", "2025-03-01T13:00:00.000000Z", "draft", {"topic": "billing", "age": 20, "nps": 3}),
    ("r4", "2025-03-02T12:00:00.000000Z", "approved",
     {"topic": "other", "ok": True, "tags": ["c", "zzz"], "age": 50, "nps": 9, "note": "yo",
      "seen": "2025-03-02T23:30:00-05:00", "secret": "s4"}),
    ("r5", "2025-03-02T13:00:00.000000Z", "submitted", {"topic": "weird", "age": 25, "note": "hi"}),
]
LIVE_ROWS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("r6", "2025-03-03T12:00:00.000000Z", "submitted",
     {"topic": "bug", "ok": True, "age": 35, "nps": 8, "note": "hey", "born": "1990-05-05"}),
    ("r7", "2025-03-03T13:00:00.000000Z", "draft", {"topic": "bug"}),
]


def _sub(sid: str, created_at: str, status: str, answers: dict[str, Any]) -> Record:
    return {"id": f"{FORM_ID[:20]}{sid:0>6}", "form_id": FORM_ID, "form_version": 1, "status": status,
            "answers": answers, "meta": {}, "rev": 1, "created_by": None, "created_at": created_at,
            "updated_at": created_at, "deleted_at": None}


def sub_id(sid: str) -> str:
    return f"{FORM_ID[:20]}{sid:0>6}"


def seed_form(store: Store, owner_id: str | None = None) -> Record:
    at = "2025-02-01T00:00:00.000000Z"
    form = {"id": FORM_ID, "owner_id": owner_id, "version": 1, "title": "Analytics", "description": None,
            "schema": SCHEMA, "settings": {}, "sensitive": ["secret"], "created_at": at, "updated_at": at,
            "updated_by": None}
    store.create_form(form)
    return store.get_form(FORM_ID)  # type: ignore[return-value]


def _change(store: Store, sid: str, changes: Record) -> None:
    sub = store.get_submission(sub_id(sid))
    assert sub is not None
    now = now_iso()
    revision = {"submission_id": sub["id"], "rev": sub["rev"], "status": sub["status"], "answers": sub["answers"],
                "changed_by": "test", "changed_at": now}
    assert store.update_submission(sub["id"], {**changes, "updated_at": now}, revision, [], sub["rev"]) is not None


def seed(store: Store, export_dir: Path | None, owner_id: str | None = None) -> Record:
    """Seed the form; with ``export_dir``, export days 1 and 2 before the later changes."""
    form = seed_form(store, owner_id)
    for row in ROWS:
        store.insert_submission(_sub(*row), [], None)
    if export_dir is not None:
        for day in (date(2025, 3, 1), date(2025, 3, 2)):
            export_day(store, day, export_dir)
    r3 = store.get_submission(sub_id("r3"))
    assert r3 is not None
    _change(store, "r3", {"status": "submitted", "answers": {**r3["answers"], "age": 22}})
    _change(store, "r2", {"deleted_at": now_iso()})
    for row in LIVE_ROWS:
        store.insert_submission(_sub(*row), [], None)
    return form
