"""Numbered migrations on both backends: adopt the previous release's data, refuse a newer schema, apply once.

The ``legacy_store`` fixture is a database written by the release before
numbered migrations (frozen snapshots in ``fixtures/``, rows in every table):
migrating it to head must keep every row readable through the store API.
Backends: real SQLite files; MongoDB on mongomock, a stand-in that checks our
documents and the lock's query/update shapes but not MongoDB's concurrency, and
on a real server when ``MONGODB_URI`` is set (the concurrent-start test then
runs real processes against it too).
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.store.interface import FmsStore
from app.store.migrations import Migration, MigrationLockLost, MigrationLockTimeout, SchemaTooNew, check_table
from app.store.migrations import mongo as mongo_migrations
from app.store.migrations import sqlite as sqlite_migrations
from app.store.sqlite import SQLiteStore
from tests.store.conftest import load_sqlite_snapshot

HEAD = len(sqlite_migrations.MIGRATIONS)
ADMIN, EDITOR = "01USERADMIN0000000000000000", "01USEREDITOR000000000000000"
FORM, SUB, HOOK = "01FORM0000000000000000000A", "01SUB00000000000000000000A", "01HOOK0000000000000000000A"


def _sqlite_run_counter(conn: sqlite3.Connection) -> None:
    """A test step 3 that leaves one row per time it ran."""
    conn.execute("CREATE TABLE IF NOT EXISTS step3_runs (pid INTEGER NOT NULL)")
    conn.execute("INSERT INTO step3_runs (pid) VALUES (?)", (os.getpid(),))


def _mongo_run_counter(db: Any) -> None:
    db.step3_runs.insert_one({"pid": os.getpid()})


def _with_step3(store: FmsStore) -> FmsStore:
    """The same database seen by a NEWER release: its migration table has one more step."""
    step = _sqlite_run_counter if store.backend == "sqlite" else _mongo_run_counter
    store.migrations = (*store.migrations, Migration(HEAD + 1, "test: count runs", step))
    return store


def _step3_runs(store: FmsStore) -> int:
    if store.backend == "sqlite":
        conn = sqlite3.connect(store.path)  # type: ignore[attr-defined]
        try:
            return int(conn.execute("SELECT COUNT(*) FROM step3_runs").fetchone()[0])
        finally:
            conn.close()
    return int(store.db.step3_runs.count_documents({}))  # type: ignore[attr-defined]


# the previous release's data -------------------------------------------------------------------
def test_v1_is_exactly_the_schema_of_the_release_before_migrations(tmp_path: Path) -> None:
    """Step 1 on an empty file writes the very tables and indexes the snapshot's release wrote."""
    load_sqlite_snapshot(tmp_path / "old.sqlite3")
    fresh = SQLiteStore(tmp_path / "new.sqlite3")
    fresh.migrations = sqlite_migrations.MIGRATIONS[:1]
    assert fresh.migrate().after == 1

    def schema(path: Path) -> set[tuple[str, str, str]]:
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
            return {(t, n, " ".join((sql or "").replace("IF NOT EXISTS ", "").split())) for t, n, sql in rows}
        finally:
            conn.close()

    old, new = schema(tmp_path / "old.sqlite3"), schema(tmp_path / "new.sqlite3")
    assert len(old) >= 40 and old == new  # 21 tables, 19 indexes


def test_previous_release_database_is_adopted_and_every_row_kept(legacy_store: FmsStore) -> None:
    assert legacy_store.schema_status() == (0, HEAD)  # never versioned
    before = _counts(legacy_store)
    assert min(before.values()) >= 1, before  # the snapshot has rows in every table

    result = legacy_store.migrate()

    assert (result.before, result.after, result.applied) == (0, HEAD, tuple(range(1, HEAD + 1)))
    assert legacy_store.schema_status() == (HEAD, HEAD)
    assert _counts(legacy_store) == before  # adopted, not re-created
    _assert_rows_readable(legacy_store)
    assert legacy_store.migrate().applied == ()  # the next start only reads the version


def _counts(store: FmsStore) -> dict[str, int]:
    if store.backend == "sqlite":
        conn = sqlite3.connect(store.path)  # type: ignore[attr-defined]
        try:
            names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
        finally:
            conn.close()
    db = store.db  # type: ignore[attr-defined]
    return {n: db[n].count_documents({}) for n in db.list_collection_names() if n != "meta"}


def _assert_rows_readable(store: FmsStore) -> None:
    """Every kind of record the snapshot holds, read back through the store API, then written to."""
    from app.store.base import SubmissionQuery

    assert store.get_user(ADMIN)["username"] == "admin"  # type: ignore[index]
    assert [u["username"] for u in store.list_users()] == ["admin", "edna"]
    key = store.get_credential_by_hash("a" * 64)
    assert key is not None and key["forms"] == [FORM] and key["scope"] == "manage"
    identity = store.get_identity("b" * 64)
    assert identity is not None and identity[1]["username"] == "edna"
    form = store.get_form(FORM)
    assert form is not None and form["version"] == 2 and form["sensitive"] == ["email"]
    assert [v["title"] for v in store.list_form_versions(FORM)] == ["Contact", "Contact v2"]
    assert store.get_share(FORM, EDITOR)["role"] == "editor"  # type: ignore[index]
    sub = store.get_submission(SUB)
    assert sub is not None and sub["status"] == "approved" and sub["answers"]["age"] == 41
    assert sub["meta"]["ai"] == {"model": "gemma"}
    assert [r["rev"] for r in store.list_revisions(SUB)] == [1]
    assert store.get_idempotency(f"form:{FORM}", "idem-1")["response"] == {"id": SUB}  # type: ignore[index]
    listed = store.query_submissions(SubmissionQuery(form_id=FORM, limit=10))
    assert [s["id"] for s in listed] == [SUB]
    assert [s["id"] for s in store.query_submissions(SubmissionQuery(form_id=FORM, deleted=True, limit=10))] == [
        "01SUB00000000000000000000C"]
    link = store.get_link_by_hash("d" * 64)
    assert link is not None and link["used"] == 1 and link["quota"] == 10
    assert [a["action"] for a in store.list_audit(0, 10)] == ["form.create"]
    assert {e["id"] for e in store.pending_events(10)} == {"01EVENT000000000000000000B", "01EVENT000000000000000000C"}
    task = store.get_task("01TASK0000000000000000000A")
    assert task is not None and task["result"] == {"submission_id": SUB} and task["state"] == "succeeded"
    assert [t["id"] for t in store.list_tasks("dead", None, None, 10)] == ["01TASK0000000000000000000B"]
    hook = store.get_webhook(HOOK)
    assert hook is not None and hook["events"] == ["submission.created"] and hook["consecutive_failures"] == 2
    deliveries = store.list_deliveries(HOOK, None, None, 10)
    assert [(d["id"], d["state"]) for d in deliveries] == [("01DELIV000000000000000000B", "succeeded"),
                                                          ("01DELIV000000000000000000A", "retrying")]
    assert store.is_done("email:01SUB00000000000000000000A")
    model = store.get_model("01MODEL000000000000000000A")
    assert model is not None and model["info"] == {"n_ctx": 2048}
    assert store.get_embedding(SUB)["vector"] == bytes(range(16))  # type: ignore[index]
    assert store.get_benchmark("01TASK0000000000000000000C")["report"]["unit"] == "tok/s"  # type: ignore[index]
    version = store.data_version(FORM)
    # and the migrated database takes writes: a new submission moves the form's data version
    new = {**sub, "id": "01SUB00000000000000000000D", "status": "submitted", "rev": 1,
           "created_at": "2026-03-05T00:00:00.000000Z", "updated_at": "2026-03-05T00:00:00.000000Z"}
    store.insert_submission(new, [], None)
    assert store.get_submission(new["id"])["answers"] == sub["answers"]  # type: ignore[index]
    assert store.data_version(FORM) > version


# refusing a newer schema --------------------------------------------------------------------------
def test_a_schema_newer_than_the_code_knows_is_refused_naming_both_versions(bare_store: FmsStore) -> None:
    assert _with_step3(bare_store).migrate().after == HEAD + 1  # a newer release ran here
    bare_store.migrations = bare_store.migrations[:HEAD]  # then ours starts

    with pytest.raises(SchemaTooNew) as err:
        bare_store.migrate()

    message = str(err.value)
    assert f"version {HEAD + 1}" in message and f"up to {HEAD}" in message
    assert bare_store.schema_status() == (HEAD + 1, HEAD)  # nothing written
    assert _step3_runs(bare_store) == 1


# a defined step 2+ ----------------------------------------------------------------------------------
def test_a_later_step_runs_once_on_a_database_at_head(bare_store: FmsStore) -> None:
    assert bare_store.migrate().after == HEAD
    newer = _with_step3(bare_store)
    result = newer.migrate()
    assert (result.before, result.after, result.applied) == (HEAD, HEAD + 1, (HEAD + 1,))
    assert newer.migrate().applied == ()
    assert _step3_runs(newer) == 1


def test_a_failing_sqlite_step_rolls_every_pending_step_back(tmp_path: Path) -> None:
    """One transaction: version, tables and the earlier steps of the same run all stay as they were."""
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("step failed midway")

    store = SQLiteStore(tmp_path / "f.sqlite3")
    store.migrations = (*sqlite_migrations.MIGRATIONS, Migration(HEAD + 1, "broken", broken))
    with pytest.raises(RuntimeError, match="midway"):
        store.migrate()
    conn = sqlite3.connect(tmp_path / "f.sqlite3")
    tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0 and tables == set()
    conn.close()


def test_a_migration_table_with_a_gap_is_rejected() -> None:
    step = sqlite_migrations.MIGRATIONS[0]
    with pytest.raises(ValueError, match=r"1\.\.N"):
        check_table((step, Migration(3, "gap", step.apply)))


# concurrent starts ----------------------------------------------------------------------------------
def _start_and_migrate(kind: str, where: str, go: Any, results: Any) -> None:
    """One 'process start': open the store and migrate (with the test step 3), report what it applied."""
    if kind == "sqlite":
        store: FmsStore = SQLiteStore(where)
    else:
        from app.store.mongo import MongoStore

        store = MongoStore.from_uri(os.environ["MONGODB_URI"], where)
    _with_step3(store)
    go.wait(30)
    try:
        results.put(store.migrate().applied)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(repr(exc))


@pytest.mark.parametrize("kind", ["sqlite", "mongodb"])
def test_concurrent_starts_apply_each_step_exactly_once(kind: str, tmp_path: Path) -> None:
    """Six real processes released together on an empty database (SQLite file; real MongoDB if set)."""
    if kind == "mongodb" and not os.environ.get("MONGODB_URI"):
        pytest.skip("MONGODB_URI not set: no real MongoDB server to test against")
    where = str(tmp_path / "c.sqlite3") if kind == "sqlite" else f"fms_test_mig_{os.getpid()}"
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_start_and_migrate, args=(kind, where, go, results)) for _ in range(6)]
    for p in procs:
        p.start()
    go.set()
    applied = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    store: FmsStore
    if kind == "sqlite":
        store = SQLiteStore(where)
    else:
        from app.store.mongo import MongoStore

        store = MongoStore.from_uri(os.environ["MONGODB_URI"], where)
    try:
        assert all(isinstance(a, tuple) for a in applied), applied  # nobody failed or timed out
        assert sorted(applied, key=len) == [()] * 5 + [tuple(range(1, HEAD + 2))]  # one did it all
        assert _with_step3(store).schema_status() == (HEAD + 1, HEAD + 1)
        assert _step3_runs(store) == 1
    finally:
        if kind == "mongodb":
            store.db.client.drop_database(where)  # type: ignore[attr-defined]


# the MongoDB lock document -----------------------------------------------------------------------------
def test_a_held_mongo_lock_makes_others_wait_and_an_expired_one_is_taken_over(mongo_store: FmsStore) -> None:
    db = mongo_store.db  # type: ignore[attr-defined]
    _with_step3(mongo_store)
    now = mongo_migrations._now()
    db.meta.update_one({"_id": mongo_migrations.LOCK_ID},
                       {"$set": {"owner": "other-host:1", "expires_at": now + timedelta(seconds=60)}}, upsert=True)
    with pytest.raises(MigrationLockTimeout, match="other-host:1"):
        mongo_migrations.migrate(db, mongo_store.migrations, wait_s=0.3)
    assert mongo_store.schema_status()[0] == HEAD and db.step3_runs.count_documents({}) == 0

    db.meta.update_one({"_id": mongo_migrations.LOCK_ID}, {"$set": {"expires_at": now - timedelta(seconds=1)}})
    assert mongo_store.migrate().applied == (HEAD + 1,)  # the holder died: its lock expired
    lock = db.meta.find_one({"_id": mongo_migrations.LOCK_ID})
    assert lock["owner"] is None  # released after the run
    schema = db.meta.find_one({"_id": mongo_migrations.SCHEMA_ID})
    assert [a["version"] for a in schema["applied"]] == list(range(1, HEAD + 2))  # what ran, and by whom
    assert schema["applied"][-1]["by"].split(":")[1] == str(os.getpid())


def _taken_over(db: Any, version: int) -> None:
    """What a slow holder finds after its step: its lock expired, another process took it and got further."""
    db.meta.update_one({"_id": mongo_migrations.LOCK_ID}, {"$set": {"owner": "other-host:2"}})
    db.meta.update_one({"_id": mongo_migrations.SCHEMA_ID}, {"$set": {"version": version}})


def test_a_holder_that_lost_the_mongo_lock_aborts_and_never_moves_the_version_back(
        mongo_store: FmsStore) -> None:
    """A step outlived the lock's TTL (mongomock, or a real server when ``MONGODB_URI`` is set).

    The new holder is at HEAD+2 by the time the slow one's step HEAD+1 ends:
    the slow one's version write must not lower it (``$max``), and its renewal
    finds the lock gone, so it stops before step HEAD+2 instead of running it
    a second time alongside the new holder.
    """
    db = mongo_store.db  # type: ignore[attr-defined]
    ran: list[int] = []
    slow = Migration(HEAD + 1, "test: slow step", lambda d: (ran.append(HEAD + 1), _taken_over(d, HEAD + 2)))
    later = Migration(HEAD + 2, "test: later step", lambda d: ran.append(HEAD + 2))
    with pytest.raises(MigrationLockLost, match="other-host:2"):
        mongo_migrations.migrate(db, (*mongo_store.migrations, slow, later))
    assert ran == [HEAD + 1]  # aborted after the step during which the lock was lost
    assert mongo_migrations.version(db) == HEAD + 2  # not moved back to HEAD + 1
    assert db.meta.find_one({"_id": mongo_migrations.LOCK_ID})["owner"] == "other-host:2"  # theirs, untouched


def test_every_process_start_refuses_a_newer_schema(tmp_path: Path) -> None:
    """``open_store`` (the API, workers, relay and CLI all start through it) migrates, or refuses."""
    from app.settings import Settings
    from app.store import open_store

    settings = Settings.from_env(environ={}, dotenv=None, data_dir=tmp_path, secret_key="test-secret")
    first = open_store(settings)
    assert first.schema_status() == (HEAD, HEAD)
    first.close()
    conn = sqlite3.connect(settings.sqlite_path)
    conn.execute(f"PRAGMA user_version = {HEAD + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match=f"version {HEAD + 1}, but this fms release knows versions up to {HEAD}"):
        open_store(settings)
