"""The Store contract, run against every backend (see conftest.py for which).

Each test states a promise of app/store/base.py and checks it on real
records; the exact dicts compared here are also the promise that both
backends return the same record shapes (no ``_id`` or other internals).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ulid import ULID

from app.store.base import AnswerFilter, Conflict, IdempotencyReplay, LastAdmin, Record, Store, SubmissionQuery

T0 = datetime(2025, 1, 1, tzinfo=UTC)
USER_KEYS = {"id", "username", "password_hash", "role", "active", "created_at", "updated_at"}
SUB_KEYS = {"id", "form_id", "form_version", "status", "answers", "meta", "rev", "created_by",
            "created_at", "updated_at", "deleted_at"}
EVENT_KEYS = {"id", "topic", "key", "payload", "created_at", "request_id"}


def ts(seconds: float) -> str:
    """ISO-8601 UTC with microseconds and Z, as the app writes them (string order = time order)."""
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    return str(ULID())


def user(name: str, at: float = 0) -> Record:
    return {"id": new_id(), "username": name, "password_hash": "h", "role": "editor", "active": 1,
            "created_at": ts(at), "updated_at": ts(at)}


def form(form_id: str | None = None, at: float = 0, title: str = "Intake") -> Record:
    return {"id": form_id or new_id(), "owner_id": "u1", "version": 1, "title": title, "description": "d",
            "schema": {"type": "object", "properties": {"age": {"type": "integer"}}},
            "settings": {"webhooks": []}, "sensitive": ["name"], "created_at": ts(at), "updated_at": ts(at),
            "updated_by": "u1"}


def submission(form_id: str, at: float, answers: dict[str, Any], status: str = "submitted",
               sub_id: str | None = None) -> Record:
    return {"id": sub_id or new_id(), "form_id": form_id, "form_version": 1, "status": status,
            "answers": answers, "meta": {"ip": "127.0.0.1"}, "rev": 1, "created_by": None,
            "created_at": ts(at), "updated_at": ts(at)}


def event(at: float, topic: str = "submission.created") -> Record:
    return {"id": new_id(), "topic": topic, "key": "k", "payload": {"n": at}, "created_at": ts(at),
            "request_id": f"req-{at}"}  # the correlation id travels with the event


def idem(key: str, scope: str = "form:f1") -> Record:
    return {"scope": scope, "key": key, "body_hash": "b" * 64, "status_code": 201,
            "response": {"id": "x", "ok": True}, "created_at": ts(0)}


def ids(rows: list[Record]) -> list[str]:
    return [r["id"] for r in rows]


# lifecycle ---------------------------------------------------------------------
def test_migrate_is_idempotent_and_ping_answers(store: Store) -> None:
    store.migrate()
    store.ping()
    assert store.count_users() == 0


# users ---------------------------------------------------------------------------
def test_users_crud_and_unique_username(store: Store) -> None:
    bob, alice = user("bob"), user("alice")
    store.create_user(bob)
    store.create_user(alice)
    assert store.get_user(bob["id"]) == bob
    assert set(bob) == USER_KEYS
    assert store.get_user_by_name("alice") == alice
    assert store.get_user_by_name("nobody") is None
    assert store.get_user("missing") is None
    assert [u["username"] for u in store.list_users()] == ["alice", "bob"]

    with pytest.raises(Conflict):
        store.create_user(user("bob"))
    assert store.count_users() == 2

    updated = store.update_user(bob["id"], {"role": "admin", "updated_at": ts(5)})
    assert updated == {**bob, "role": "admin", "updated_at": ts(5)}
    assert store.get_user(bob["id"])["role"] == "admin"  # type: ignore[index]

    assert store.delete_user(bob["id"]) is True
    assert store.delete_user(bob["id"]) is False
    assert store.get_user(bob["id"]) is None
    assert store.count_users() == 1


# credentials -----------------------------------------------------------------------
def credential(user_id: str, token_hash: str, kind: str = "api_key", at: float = 0) -> Record:
    return {"id": new_id(), "kind": kind, "token_hash": token_hash, "user_id": user_id, "name": "ci",
            "role": None, "scope": "read", "forms": ["f1", "f2"], "prefix": "fms_ab", "expires_at": None,
            "revoked_at": None, "created_at": ts(at)}


def test_credentials_lookup_list_and_revoke_once(store: Store) -> None:
    u1, u2 = user("u1"), user("u2")
    store.create_user(u1)
    store.create_user(u2)
    k1, k2 = credential(u1["id"], "a" * 64, at=2), credential(u1["id"], "b" * 64, at=1)
    tok = credential(u2["id"], "c" * 64, kind="login")
    for c in (k1, k2, tok):
        store.create_credential(c)

    assert store.get_credential_by_hash("a" * 64) == k1
    assert store.get_credential_by_hash("z" * 64) is None
    assert ids(store.list_credentials("api_key")) == [k2["id"], k1["id"]]  # by created_at
    assert ids(store.list_credentials("api_key", u2["id"])) == []
    assert ids(store.list_credentials("login", u2["id"])) == [tok["id"]]

    assert store.revoke_credential(k1["id"], ts(9)) is True
    assert store.revoke_credential(k1["id"], ts(10)) is False
    assert store.get_credential_by_hash("a" * 64)["revoked_at"] == ts(9)  # type: ignore[index]

    store.delete_user(u1["id"])  # a deleted user's keys go with them
    assert store.get_credential_by_hash("b" * 64) is None
    assert store.get_credential_by_hash("c" * 64) == tok


# forms -------------------------------------------------------------------------------
def test_form_versions_are_optimistic(store: Store) -> None:
    f = form()
    store.create_form(f)
    stored = store.get_form(f["id"])
    expected_row = {k: v for k, v in f.items() if k != "updated_by"} | {"deleted_at": None}
    assert stored == expected_row
    v1 = {"form_id": f["id"], "version": 1, "title": "Intake", "description": "d", "schema": f["schema"],
          "settings": f["settings"], "sensitive": ["name"], "created_at": ts(0), "created_by": "u1"}
    assert store.list_form_versions(f["id"]) == [v1]

    f2 = {**f, "version": 2, "title": "Intake v2", "updated_at": ts(10), "updated_by": "u2"}
    assert store.add_form_version(f2, expected_version=1) is True
    assert store.get_form(f["id"])["title"] == "Intake v2"  # type: ignore[index]
    assert [v["version"] for v in store.list_form_versions(f["id"])] == [1, 2]
    assert store.get_form_version(f["id"], 1) == v1
    assert store.get_form_version(f["id"], 2)["created_by"] == "u2"  # type: ignore[index]

    stale = {**f, "version": 2, "title": "lost update", "updated_at": ts(11)}
    assert store.add_form_version(stale, expected_version=1) is False
    assert store.get_form(f["id"])["title"] == "Intake v2"  # type: ignore[index]
    assert [v["title"] for v in store.list_form_versions(f["id"])] == ["Intake", "Intake v2"]
    assert store.get_form_version(f["id"], 3) is None


def test_forms_list_newest_first_and_delete_hides(store: Store) -> None:
    made = [form(form_id, at=i) for i, form_id in enumerate(sorted(new_id() for _ in range(5)))]
    for f in made:
        store.create_form(f)
    newest_first = ids(made)[::-1]
    page1 = store.list_forms(None, 3)
    assert ids(page1) == newest_first[:3]
    assert ids(store.list_forms(page1[-1]["id"], 3)) == newest_first[3:]

    gone = made[2]
    assert store.delete_form(gone["id"], ts(50)) is True
    assert store.delete_form(gone["id"], ts(51)) is False
    assert store.get_form(gone["id"]) is None
    assert gone["id"] not in ids(store.list_forms(None, 10))
    assert store.add_form_version({**gone, "version": 2, "updated_at": ts(52)}, 1) is False
    assert [v["version"] for v in store.list_form_versions(gone["id"])] == [1]


# per-form shares ------------------------------------------------------------------------
SHARE_KEYS = {"form_id", "user_id", "role", "granted_by", "created_at", "updated_at"}


def share(form_id: str, user_id: str, role: str = "viewer", at: float = 0) -> Record:
    return {"form_id": form_id, "user_id": user_id, "role": role, "granted_by": "u1",
            "created_at": ts(at), "updated_at": ts(at)}


def test_shares_grant_change_list_and_revoke(store: Store) -> None:
    f, other = form(), form()
    store.create_form(f)
    store.create_form(other)
    first = share(f["id"], "bob", "viewer", at=1)
    assert store.put_share(first) is True
    assert store.put_share(share(f["id"], "ann", "manager", at=2)) is True
    assert store.get_share(f["id"], "bob") == first and set(first) == SHARE_KEYS
    assert store.get_share(other["id"], "bob") is None

    changed = {**share(f["id"], "bob", "editor", at=5), "granted_by": "u2"}
    assert store.put_share(changed) is False  # not new: the grant changes, its created_at stays
    assert store.get_share(f["id"], "bob") == {**changed, "created_at": ts(1)}
    assert [(s["user_id"], s["role"]) for s in store.list_shares(f["id"])] == [("bob", "editor"),
                                                                                ("ann", "manager")]
    assert store.list_shares(other["id"]) == []

    assert store.delete_share(f["id"], "bob") is True
    assert store.delete_share(f["id"], "bob") is False
    assert store.get_share(f["id"], "bob") is None
    assert [s["user_id"] for s in store.list_shares(f["id"])] == ["ann"]


def test_forms_list_visible_to_a_user_is_owned_or_shared(store: Store) -> None:
    made = [form(form_id, at=i) for i, form_id in enumerate(sorted(new_id() for _ in range(6)))]
    made[1]["owner_id"] = made[4]["owner_id"] = "bob"
    for f in made:
        store.create_form(f)
    store.put_share(share(made[2]["id"], "bob"))
    store.put_share(share(made[3]["id"], "someone-else"))
    store.put_share(share(made[5]["id"], "bob", "manager"))
    store.delete_form(made[5]["id"], ts(9))  # a deleted form stays hidden, shared or not

    visible = [made[4]["id"], made[2]["id"], made[1]["id"]]  # newest first
    assert ids(store.list_forms(None, 10, visible_to="bob")) == visible
    page = store.list_forms(None, 2, visible_to="bob")
    assert ids(page) == visible[:2]
    assert ids(store.list_forms(page[-1]["id"], 2, visible_to="bob")) == visible[2:]
    assert store.list_forms(None, 10, visible_to="nobody") == []
    assert len(store.list_forms(None, 10)) == 5  # no visible_to: every live form


def test_deleting_a_user_removes_their_shares(store: Store) -> None:
    f, bob = form(), user("bob")
    store.create_form(f)
    store.create_user(bob)
    store.put_share(share(f["id"], bob["id"], "editor"))
    assert store.delete_user(bob["id"]) is True
    assert store.get_share(f["id"], bob["id"]) is None
    assert store.list_forms(None, 10, visible_to=bob["id"]) == []


def test_the_last_active_admin_is_kept(store: Store) -> None:
    root, ops, ed = {**user("root"), "role": "admin"}, {**user("ops"), "role": "admin"}, user("ed")
    for u in (root, ops, ed):
        store.create_user(u)
    assert store.update_user(ops["id"], {"active": 0}, keep_admin=True)["active"] == 0  # type: ignore[index]
    for change in ({"active": 0}, {"role": "editor"}, {"role": "viewer", "active": 0}):
        with pytest.raises(LastAdmin):
            store.update_user(root["id"], change, keep_admin=True)
        assert store.get_user(root["id"]) == root  # nothing written
    with pytest.raises(LastAdmin):
        store.delete_user(root["id"], keep_admin=True)
    assert store.get_user(root["id"]) == root
    assert store.update_user(ed["id"], {"active": 0}, keep_admin=True)["active"] == 0  # type: ignore[index]
    assert store.delete_user(ed["id"], keep_admin=True) is True  # not an admin: no guard

    store.update_user(ops["id"], {"active": 1}, keep_admin=True)  # a second active admin again
    assert store.update_user(root["id"], {"role": "editor"}, keep_admin=True)["role"] == "editor"  # type: ignore[index]
    with pytest.raises(LastAdmin):
        store.delete_user(ops["id"], keep_admin=True)
    assert store.get_user(ops["id"])["active"] == 1  # type: ignore[index]
    assert store.delete_user(ops["id"]) is True  # without keep_admin the store does as told


# submissions: insert, idempotency, events ----------------------------------------------
def test_insert_submission_with_events_and_idempotency(store: Store) -> None:
    sub = submission("f1", 1, {"age": 30})
    events = [event(1), event(1.5, "submission.validated")]
    store.insert_submission(sub, events, idem("key-1"))

    assert store.get_submission(sub["id"]) == {**sub, "deleted_at": None}
    assert store.get_idempotency("form:f1", "key-1") == idem("key-1")
    assert store.get_idempotency("form:f1", "other") is None
    assert store.get_idempotency("form:f2", "key-1") is None
    pending = store.pending_events(10)
    assert pending == events
    assert all(set(e) == EVENT_KEYS for e in pending)

    replay = submission("f1", 2, {"age": 31})
    with pytest.raises(IdempotencyReplay) as caught:
        store.insert_submission(replay, [event(2)], {**idem("key-1"), "body_hash": "c" * 64})
    assert caught.value.record == idem("key-1")
    assert store.get_submission(replay["id"]) is None
    assert store.count_submissions(SubmissionQuery(form_id="f1")) == 1
    assert store.pending_events(10) == events  # the replay queued nothing

    other_scope = submission("f1", 3, {"age": 32})
    store.insert_submission(other_scope, [], idem("key-1", scope="form:f9"))
    store.insert_submission(submission("f1", 4, {}), [], None)
    assert store.count_submissions(SubmissionQuery(form_id="f1")) == 3


def test_records_never_leak_internal_fields(store: Store) -> None:
    sub = submission("f1", 1, {"age": 1})
    store.insert_submission(sub, [event(1)], idem("k"))
    store.update_submission(sub["id"], {"status": "approved"}, revision_of(sub, 2), [event(2)], 1)
    rows = [store.get_submission(sub["id"]), *store.query_submissions(SubmissionQuery(form_id="f1"))]
    assert all(set(r) == SUB_KEYS for r in rows)  # type: ignore[arg-type]


# submissions: queries ----------------------------------------------------------------------
PEOPLE = [  # (age, name, city, status)
    (25, "ana", "porto", "submitted"), (31, "ben", "lisbon", "approved"), (31, "cy", None, "submitted"),
    (40, "dee", "porto", "rejected"), (18, "eve", "faro", "in_review"), (52, "fin", "lisbon", "approved"),
    (31, "gus", "porto", "draft"), (67, "hal", "braga", "submitted"),
]


@pytest.fixture
def people(store: Store) -> list[Record]:
    """Eight submissions of form f1 (one per second) and noise in form f2, newest last."""
    rows = []
    for i, (age, name, city, status) in enumerate(PEOPLE):
        answers: dict[str, Any] = {"age": age, "name": name}
        if city is not None:
            answers["city"] = city
        rows.append(submission("f1", i, answers, status))
        store.insert_submission(rows[-1], [], None)
    store.insert_submission(submission("f2", 3, {"age": 31, "name": "zed"}), [], None)
    return rows


def expect(rows: list[Record], pred: Any) -> list[str]:
    return [r["id"] for r in reversed(rows) if pred(r)]


def query(store: Store, **kw: Any) -> list[str]:
    q = SubmissionQuery(form_id="f1", limit=100, **kw)
    found = store.query_submissions(q)
    assert store.count_submissions(q) == len(found)
    return ids(found)


@pytest.mark.parametrize(
    ("flt", "pred"),
    [
        (AnswerFilter("age", "eq", 31), lambda a: a.get("age") == 31),
        (AnswerFilter("age", "ne", 31), lambda a: a.get("age") is not None and a["age"] != 31),
        (AnswerFilter("age", "gt", 31), lambda a: a["age"] > 31),
        (AnswerFilter("age", "gte", 31), lambda a: a["age"] >= 31),
        (AnswerFilter("age", "lt", 31), lambda a: a["age"] < 31),
        (AnswerFilter("age", "lte", 31), lambda a: a["age"] <= 31),
        (AnswerFilter("age", "in", [18, 67, 99]), lambda a: a["age"] in (18, 67)),
        (AnswerFilter("city", "eq", "porto"), lambda a: a.get("city") == "porto"),
        (AnswerFilter("city", "ne", "porto"), lambda a: a.get("city") not in (None, "porto")),
        (AnswerFilter("name", "gt", "dee"), lambda a: a["name"] > "dee"),
        (AnswerFilter("name", "gte", "dee"), lambda a: a["name"] >= "dee"),
        (AnswerFilter("name", "lt", "dee"), lambda a: a["name"] < "dee"),
        (AnswerFilter("name", "lte", "dee"), lambda a: a["name"] <= "dee"),
        (AnswerFilter("city", "in", ["faro", "braga"]), lambda a: a.get("city") in ("faro", "braga")),
        (AnswerFilter("nope", "eq", 1), lambda a: False),
    ],
    ids=lambda v: f"{v.field}-{v.op}" if isinstance(v, AnswerFilter) else "",
)
def test_answer_filters(store: Store, people: list[Record], flt: AnswerFilter, pred: Any) -> None:
    want = expect(people, lambda r: pred(r["answers"]))
    assert want or flt.field == "nope"  # the data exercises the filter
    assert query(store, answers=(flt,)) == want


def test_filters_combine_status_dates_and_answers(store: Store, people: list[Record]) -> None:
    assert query(store) == ids(people)[::-1]
    assert query(store, statuses=("approved", "draft")) == expect(
        people, lambda r: r["status"] in ("approved", "draft"))
    assert query(store, created_after=ts(2), created_before=ts(6)) == ids(people)[5:2:-1]  # strict bounds
    both = (AnswerFilter("age", "gte", 30), AnswerFilter("city", "eq", "porto"))
    assert query(store, answers=both, statuses=("submitted", "rejected", "draft")) == expect(
        people, lambda r: r["answers"]["age"] >= 30 and r["answers"].get("city") == "porto"
        and r["status"] != "approved")
    assert query(store, answers=(AnswerFilter("age", "gt", 30), AnswerFilter("age", "lt", 50))) == expect(
        people, lambda r: 30 < r["answers"]["age"] < 50)


def test_fields_projection(store: Store, people: list[Record]) -> None:
    rows = store.query_submissions(SubmissionQuery(form_id="f1", fields=("age", "city")))
    by_id = {r["id"]: r for r in people}
    for row in rows:
        full = by_id[row["id"]]["answers"]
        assert row["answers"] == {k: full[k] for k in ("age", "city") if k in full}
        assert set(row) == SUB_KEYS and row["status"] == by_id[row["id"]]["status"]
    assert any("city" not in r["answers"] for r in rows)  # absent answers stay absent
    empty = store.query_submissions(SubmissionQuery(form_id="f1", fields=(), limit=2))
    assert [r["answers"] for r in empty] == [{}, {}]
    full_rows = store.query_submissions(SubmissionQuery(form_id="f1", limit=1))
    assert full_rows[0]["answers"] == people[-1]["answers"]


def test_boolean_answers_filter_and_project_as_booleans(store: Store, request: pytest.FixtureRequest) -> None:
    yes, no = submission("f1", 1, {"ok": True, "n": 1}), submission("f1", 2, {"ok": False, "n": 0})
    for row in (yes, no):
        store.insert_submission(row, [], None)
    assert query(store, answers=(AnswerFilter("ok", "eq", True),)) == [yes["id"]]
    assert query(store, answers=(AnswerFilter("ok", "ne", True),)) == [no["id"]]
    assert query(store, answers=(AnswerFilter("ok", "in", (False,)),)) == [no["id"]]
    rows = store.query_submissions(SubmissionQuery(form_id="f1", fields=("ok",)))
    assert [r["answers"] for r in rows] == [{"ok": False}, {"ok": True}]
    assert all(type(r["answers"]["ok"]) is bool for r in rows)


def test_deleted_and_live_lists_are_disjoint(store: Store, people: list[Record]) -> None:
    for row in people[:3]:
        assert store.update_submission(row["id"], {"deleted_at": ts(100)}, revision_of(row, 2), [], 1)
    assert query(store) == ids(people[3:])[::-1]
    assert query(store, deleted=True) == ids(people[:3])[::-1]
    assert store.get_submission(people[0]["id"])["deleted_at"] == ts(100)  # type: ignore[index]
    restored = store.update_submission(people[0]["id"], {"deleted_at": None}, revision_of(people[0], 3), [], 2)
    assert restored is not None and restored["deleted_at"] is None
    assert query(store, deleted=True) == [people[2]["id"], people[1]["id"]]


def test_keyset_pagination_is_stable_under_inserts(store: Store) -> None:
    # 25 rows, several sharing a timestamp, so the id tie-break matters.
    rows = [submission("f1", i // 3, {"i": i}) for i in range(25)]
    for row in rows:
        store.insert_submission(row, [], None)
    newest_first = sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)

    seen: list[str] = []
    after: tuple[str, str] | None = None
    for page_no in range(10):
        page = store.query_submissions(SubmissionQuery(form_id="f1", after=after, limit=10))
        if not page:
            break
        seen.extend(ids(page))
        after = (page[-1]["created_at"], page[-1]["id"])
        # Newer rows arrive between pages: they must not shift what comes next.
        store.insert_submission(submission("f1", 1000 + page_no, {"late": page_no}), [], None)
    assert seen == ids(newest_first)
    assert store.count_submissions(SubmissionQuery(form_id="f1")) == 25 + len(seen) // 10 + 1


# submissions: updates and purge ----------------------------------------------------------------
def revision_of(sub: Record, rev: int) -> Record:
    return {"submission_id": sub["id"], "rev": rev - 1, "status": sub["status"], "answers": sub["answers"],
            "changed_by": "u1", "changed_at": ts(200 + rev)}


def test_update_submission_is_optimistic(store: Store) -> None:
    sub = submission("f1", 1, {"age": 30})
    store.insert_submission(sub, [], None)
    changes = {"answers": {"age": 31}, "status": "in_review", "updated_at": ts(5)}

    assert store.update_submission(sub["id"], changes, revision_of(sub, 2), [event(5)], expected_rev=2) is None
    assert store.get_submission(sub["id"]) == {**sub, "deleted_at": None}
    assert store.list_revisions(sub["id"]) == []
    assert store.pending_events(10) == []

    ev = event(5, "submission.updated")
    updated = store.update_submission(sub["id"], changes, revision_of(sub, 2), [ev], expected_rev=1)
    assert updated == {**sub, **changes, "rev": 2, "deleted_at": None}
    assert store.get_submission(sub["id"]) == updated
    assert store.list_revisions(sub["id"]) == [revision_of(sub, 2)]
    assert store.pending_events(10) == [ev]

    again = store.update_submission(sub["id"], {"status": "approved"}, revision_of(updated, 3), [], 2)
    assert again is not None and again["rev"] == 3
    assert [r["rev"] for r in store.list_revisions(sub["id"])] == [1, 2]
    assert store.update_submission("missing", {"status": "approved"}, revision_of(sub, 2), [], 1) is None


def test_purge_removes_old_soft_deleted_submissions(store: Store) -> None:
    old, recent, live = (submission("f1", i, {"i": i}) for i in range(3))
    for row in (old, recent, live):
        store.insert_submission(row, [], None)
    store.update_submission(old["id"], {"deleted_at": ts(10)}, revision_of(old, 2), [], 1)
    store.update_submission(recent["id"], {"deleted_at": ts(30)}, revision_of(recent, 2), [], 1)

    assert store.purge_submissions(ts(20)) == 1
    assert store.get_submission(old["id"]) is None
    assert store.list_revisions(old["id"]) == []
    assert store.get_submission(recent["id"]) is not None
    assert store.get_submission(live["id"]) is not None
    assert store.purge_submissions(ts(20)) == 0
    assert store.purge_submissions(ts(40)) == 1


# public links --------------------------------------------------------------------------------
def link(form_id: str, token_hash: str, quota: int | None, at: float = 0) -> Record:
    return {"id": new_id(), "form_id": form_id, "token_hash": token_hash, "prefix": "pl_", "expires_at": ts(99),
            "quota": quota, "used": 0, "created_by": "u1", "created_at": ts(at), "revoked_at": None}


def test_links_quota_and_revoke(store: Store) -> None:
    capped, free = link("f1", "q" * 64, 2, at=1), link("f1", "r" * 64, None, at=2)
    store.create_link(capped)
    store.create_link(free)
    store.create_link(link("f2", "s" * 64, 1))
    assert store.get_link_by_hash("q" * 64) == capped
    assert store.get_link_by_hash("x" * 64) is None
    assert ids(store.list_links("f1")) == [capped["id"], free["id"]]

    assert [store.take_link_quota(capped["id"]) for _ in range(3)] == [True, True, False]
    assert store.get_link_by_hash("q" * 64)["used"] == 2  # type: ignore[index]
    assert all(store.take_link_quota(free["id"]) for _ in range(5))
    assert store.take_link_quota("missing") is False

    assert store.revoke_link(free["id"], ts(7)) is True
    assert store.revoke_link(free["id"], ts(8)) is False
    assert store.get_link_by_hash("r" * 64)["revoked_at"] == ts(7)  # type: ignore[index]


def test_link_quota_holds_under_concurrent_takers(store: Store) -> None:
    capped = link("f1", "t" * 64, 10)
    store.create_link(capped)
    taken: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            ok = store.take_link_quota(capped["id"])
            with lock:
                taken.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(taken) == 30
    assert taken.count(True) == 10
    assert store.get_link_by_hash("t" * 64)["used"] == 10  # type: ignore[index]


# audit -------------------------------------------------------------------------------------
def audit_entry(seq: int) -> Record:
    return {"seq": seq, "at": ts(seq), "actor": "u1", "action": "user.create", "target": f"user:{seq}",
            "details": {"n": seq}, "prev_hash": f"{seq - 1:064d}", "hash": f"{seq:064d}"}


def test_audit_sequence_is_unique_and_ordered(store: Store) -> None:
    assert store.last_audit() is None
    for seq in (1, 2, 3):
        assert store.insert_audit(audit_entry(seq)) is True
    assert store.insert_audit({**audit_entry(2), "action": "lost.race"}) is False
    assert store.last_audit() == audit_entry(3)
    assert store.list_audit(0, 10) == [audit_entry(1), audit_entry(2), audit_entry(3)]
    assert [e["seq"] for e in store.list_audit(1, 1)] == [2]
    assert store.list_audit(3, 10) == []
    assert store.list_audit(0, 0) == []  # LIMIT 0 means none, not "no limit"


def test_atomically_commits_a_change_and_its_audit_record_together(store: Store) -> None:
    with store.atomically():
        store.create_form(form("fa"))
        assert store.insert_audit(audit_entry(1)) is True
        assert store.get_form("fa") is not None  # the block reads its own writes
    assert store.get_form("fa") is not None and store.last_audit() == audit_entry(1)
    with pytest.raises(RuntimeError), store.atomically():
        store.create_form(form("fb"))
        raise RuntimeError("crash before the audit record")
    if store.backend == "sqlite":  # one transaction: rolled back whole
        assert store.get_form("fb") is None
    else:  # MongoDB without a replica set: each write is its own (Store.atomically says so)
        assert store.get_form("fb") is not None
    assert store.last_audit() == audit_entry(1)


def test_atomically_nests_into_one_transaction_and_takes_submissions(store: Store) -> None:
    if store.backend != "sqlite":
        pytest.skip("only SQLite runs a block as one transaction")
    store.create_form(form("f1"))
    with pytest.raises(RuntimeError), store.atomically():
        with store.atomically():
            store.insert_submission(submission("f1", 1, {}), [event(1)], None)
        raise RuntimeError("the outer block fails")
    assert store.count_submissions(SubmissionQuery(form_id="f1")) == 0
    # another thread leads the group committer (its flag set, as while it commits): a submission
    # written inside a block must not queue for that leader, which would wait for this block's lock
    store._group._leader_active = True  # type: ignore[attr-defined]
    done = threading.Event()

    def write() -> None:
        with store.atomically():
            store.insert_submission(submission("f1", 2, {}), [event(2)], None)
        done.set()

    worker = threading.Thread(target=write, daemon=True)
    worker.start()
    assert done.wait(10), "the submission queued for the group committer's leader inside the block"
    store._group._leader_active = False  # type: ignore[attr-defined]
    assert store.count_submissions(SubmissionQuery(form_id="f1")) == 1


def test_a_write_that_raises_inside_a_block_is_undone_even_when_caught(store: Store) -> None:
    """A nested write or block is a savepoint: ``LastAdmin`` raised after its UPDATE, or an inner block
    that fails, undoes its own writes even when the caller catches the error inside the block."""
    if store.backend != "sqlite":
        pytest.skip("only SQLite runs a block as one transaction")
    root = {**user("root"), "role": "admin"}
    store.create_user(root)
    with store.atomically():
        with pytest.raises(LastAdmin):
            store.update_user(root["id"], {"role": "editor"}, keep_admin=True)
        try:
            with store.atomically():
                store.create_form(form("inner"))
                raise RuntimeError("the inner block fails")
        except RuntimeError:
            pass
        store.create_form(form("outer"))
    assert store.get_user(root["id"]) == root
    assert store.get_form("inner") is None and store.get_form("outer") is not None


# outbox ------------------------------------------------------------------------------------
def test_outbox_pending_oldest_first_until_sent(store: Store) -> None:
    # Written in time order, as the app does; s1 gets a second event from a later patch,
    # so one submission holds both an old and the newest pending event.
    loose_old, loose_new = event(1, "form.created"), event(6, "form.updated")
    store.add_events([loose_old])
    s1 = submission("f1", 2, {})
    s1_created, s1_updated = event(2), event(7, "submission.updated")
    store.insert_submission(s1, [s1_created], None)
    s2_created = event(3)
    store.insert_submission(submission("f1", 3, {}), [s2_created], None)
    store.add_events([loose_new])
    assert store.update_submission(s1["id"], {"status": "approved"}, revision_of(s1, 2), [s1_updated], 1)

    everything = [loose_old, s1_created, s2_created, loose_new, s1_updated]
    assert store.pending_events(10) == everything
    assert store.pending_events(3) == everything[:3]
    assert store.pending_events(0) == []

    store.mark_events_sent([loose_old["id"], s1_created["id"]], ts(20))
    assert store.pending_events(10) == [s2_created, loose_new, s1_updated]
    store.mark_events_sent([e["id"] for e in everything], ts(21))
    assert store.pending_events(10) == []
    store.mark_events_sent([], ts(22))  # nothing to do is fine


# SQLite only: the list queries are served by indexes --------------------------------------------
def _plan(sqlite_store: Any, sql: str, params: list[Any]) -> list[str]:
    return sqlite_store.explain(sql, tuple(params))


def _assert_index_search(plan: list[str], table: str) -> None:
    """An index SEARCH on ``table`` (by form_id), never a plain full-table SCAN."""
    assert any("USING INDEX" in line or "USING COVERING INDEX" in line for line in plan), plan
    assert any(line.startswith(f"SEARCH {table} USING") for line in plan), plan
    assert f"SCAN {table}" not in plan, plan


@pytest.mark.parametrize(
    "q",
    [
        SubmissionQuery(form_id="f1"),
        SubmissionQuery(form_id="f1", after=(ts(5), "01J0000000000000000000000"), limit=10),
        SubmissionQuery(form_id="f1", statuses=("approved",)),
        SubmissionQuery(form_id="f1", statuses=("approved", "rejected"), created_after=ts(1)),
        SubmissionQuery(form_id="f1", deleted=True, created_before=ts(9)),
        SubmissionQuery(form_id="f1", answers=(AnswerFilter("age", "gt", 3),), fields=("age",)),
    ],
    ids=["plain", "cursor", "status", "statuses-dates", "deleted", "answers-fields"],
)
def test_sqlite_submission_lists_use_an_index(sqlite_store: Any, q: SubmissionQuery) -> None:
    for i in range(30):
        sqlite_store.insert_submission(submission(f"f{i % 3}", i, {"age": i}), [], None)
    _assert_index_search(_plan(sqlite_store, *sqlite_store.submission_list_sql(q)), "submissions")
    where, params = sqlite_store.submission_where(q)
    _assert_index_search(_plan(sqlite_store, f"SELECT COUNT(*) FROM submissions WHERE {where}", params),
                         "submissions")


def test_sqlite_form_list_uses_an_index(sqlite_store: Any) -> None:
    for sql, params in [
        ("SELECT * FROM forms WHERE deleted_at IS NULL ORDER BY id DESC LIMIT ?", [10]),
        ("SELECT * FROM forms WHERE deleted_at IS NULL AND id < ? ORDER BY id DESC LIMIT ?", ["z", 10]),
    ]:
        plan = _plan(sqlite_store, sql, params)
        _assert_index_search(plan, "forms")
        assert not any("TEMP B-TREE" in line for line in plan), plan  # the index gives the order
