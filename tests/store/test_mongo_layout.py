"""MongoDB-only checks: the document layout that makes multi-record writes atomic.

The contract suite proves the behaviour; these tests pin down *how* the
MongoDB backend gets it without transactions (one document per write) and
that it recovers from a crash between the two writes of a form version.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.store.base import SubmissionQuery
from tests.store.test_contract import event, form, idem, revision_of, submission, ts


def test_migrate_creates_every_query_index(mongo_store: Any) -> None:
    db = mongo_store.db
    names = {coll: set(db[coll].index_information()) for coll in
             ("users", "credentials", "forms", "form_versions", "submissions", "links", "outbox")}
    assert {"username_unique"} <= names["users"]
    assert {"token_hash_unique", "by_kind_user"} <= names["credentials"]
    assert {"forms_live"} <= names["forms"]
    assert {"form_version_unique"} <= names["form_versions"]
    assert {"by_form", "by_form_status", "idempotency_unique", "pending_events", "pending_event_ids",
            "deleted"} <= names["submissions"]
    assert {"token_hash_unique", "by_form"} <= names["links"]
    assert {"pending"} <= names["outbox"]
    info = db.submissions.index_information()
    assert info["idempotency_unique"].get("unique") is True
    assert info["by_form"]["key"] == [("form_id", 1), ("deleted_at", 1), ("created_at", -1), ("_id", -1)]


def test_submission_events_key_and_revisions_live_in_one_document(mongo_store: Any) -> None:
    sub = submission("f1", 1, {"age": 1})
    created, updated = event(1), event(2, "submission.updated")
    writes: list[str] = []
    coll = mongo_store.db.submissions
    for name in ("insert_one", "insert_many", "update_one", "update_many", "find_one_and_update"):
        original = getattr(coll, name)
        setattr(coll, name, lambda *a, _o=original, _n=name, **k: (writes.append(_n), _o(*a, **k))[1])
    mongo_store.insert_submission(sub, [created], idem("k1"))
    assert writes == ["insert_one"]  # submission + event + idempotency key: one write
    mongo_store.update_submission(sub["id"], {"status": "approved"}, revision_of(sub, 2), [updated], 1)
    assert writes == ["insert_one", "find_one_and_update"]  # changes + revision + event: one write

    raw = mongo_store.db.submissions.find_one({"_id": sub["id"]})
    assert [e["id"] for e in raw["pending_events"]] == [created["id"], updated["id"]]
    assert raw["idem"]["key"] == "k1"
    assert [r["rev"] for r in raw["revisions"]] == [1]
    assert "id" not in raw  # _id is the id, stored once


def test_sent_events_leave_the_submission_document(mongo_store: Any) -> None:
    sub = submission("f1", 1, {})
    ev = event(1)
    mongo_store.insert_submission(sub, [ev], None)
    mongo_store.mark_events_sent([ev["id"]], ts(5))
    assert "pending_events" not in mongo_store.db.submissions.find_one({"_id": sub["id"]})


def test_purge_waits_for_unsent_events(mongo_store: Any) -> None:
    sub = submission("f1", 1, {})
    ev = event(1)
    mongo_store.insert_submission(sub, [ev], None)
    mongo_store.update_submission(sub["id"], {"deleted_at": ts(2)}, revision_of(sub, 2), [], 1)
    assert mongo_store.purge_submissions(ts(10)) == 0  # the relay has not sent its webhook yet
    assert mongo_store.pending_events(10) == [ev]
    mongo_store.mark_events_sent([ev["id"]], ts(3))
    assert mongo_store.purge_submissions(ts(10)) == 1
    assert mongo_store.count_submissions(SubmissionQuery(form_id="f1", deleted=True)) == 0


def test_form_version_row_lost_in_a_crash_is_served_and_healed(mongo_store: Any) -> None:
    f = form()
    mongo_store.create_form(f)
    f2 = {**f, "version": 2, "title": "v2", "updated_at": ts(5), "updated_by": "u2"}
    assert mongo_store.add_form_version(f2, 1)
    # Simulate a crash after the form document moved to v2 but before its version row was written.
    mongo_store.db.form_versions.delete_one({"form_id": f["id"], "version": 2})

    assert mongo_store.get_form_version(f["id"], 2)["title"] == "v2"
    assert [v["version"] for v in mongo_store.list_form_versions(f["id"])] == [1, 2]
    f3 = {**f, "version": 3, "title": "v3", "updated_at": ts(9), "updated_by": "u3"}
    assert mongo_store.add_form_version(f3, 2)
    healed = mongo_store.db.form_versions.find_one({"form_id": f["id"], "version": 2}, {"_id": 0})
    assert healed == {"form_id": f["id"], "version": 2, "title": "v2", "description": "d", "schema": f["schema"],
                      "settings": f["settings"], "sensitive": ["name"], "created_at": ts(5), "created_by": "u2"}
    assert [v["title"] for v in mongo_store.list_form_versions(f["id"])] == ["Intake", "v2", "v3"]


def test_answer_field_names_that_are_not_plain_paths(mongo_store: Any) -> None:
    from app.store.base import AnswerFilter, StoreError

    sub = submission("f1", 1, {"a": 1, "b": 2})
    mongo_store.insert_submission(sub, [], None)
    with pytest.raises(StoreError):
        mongo_store.query_submissions(SubmissionQuery(form_id="f1", answers=(AnswerFilter("a.b", "eq", 1),)))
    rows = mongo_store.query_submissions(SubmissionQuery(form_id="f1", fields=("a", "$b")))
    assert rows[0]["answers"] == {"a": 1}  # picked in Python, never sent as a path
