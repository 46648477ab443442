"""fms-backup / fms-restore round trip on the real fms schema, with data in every kind of record.

The database is created by the store (``open_store``: every migration) and filled through the
store API while it stays open in WAL mode, as the API holds it; the shipped scripts back it up
and restore it into a fresh data directory; everything is read back through the store API.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from ulid import ULID

from app.settings import Settings
from app.store import open_store
from app.store.base import SubmissionQuery
from app.store.interface import FmsStore
from tests.ops.conftest import ROOT, run

SCRIPTS = ROOT / "ansible" / "roles" / "fms_backup" / "files"
SUBMISSIONS = 300


def _settings(data_dir: Path) -> Settings:
    return Settings.from_env(environ={}, dotenv=None, env="test", data_dir=data_dir, secret_key="test-secret",
                             redis_url="")


def _env(tmp_path: Path, data_dir: Path) -> dict[str, str]:
    return {**os.environ, "FMS_DATA_DIR": str(data_dir), "FMS_BACKUP_DIR": str(tmp_path / "backups"),
            "FMS_BACKUP_KEEP_DAYS": "14", "FMS_RESTORE_NO_SYSTEMCTL": "1",
            "FMS_RESTORE_OWNER": f"{os.getuid()}:{os.getgid()}"}


def _id() -> str:
    return str(ULID())


def _ts(n: int) -> str:
    return f"2026-03-01T10:{n // 60 % 60:02d}:{n % 60:02d}.{n:06d}Z"


def _fill(store: FmsStore) -> dict[str, str]:
    """Rows in users, credentials, forms (+versions), shares, submissions (+events, idempotency,
    revisions, a soft delete), links, audit, the outbox, tasks, done keys, webhooks, deliveries,
    models, embeddings and benchmarks. Returns the ids the checks look up."""
    admin, editor, form_id, hook_id, model_id, bench_id = _id(), _id(), _id(), _id(), _id(), _id()
    for uid, name, role in ((admin, "admin", "admin"), (editor, "edna", "editor")):
        store.create_user({"id": uid, "username": name, "password_hash": "h", "role": role, "active": 1,
                           "created_at": _ts(0), "updated_at": _ts(0)})
    store.create_credential({"id": _id(), "kind": "api_key", "token_hash": "a" * 64, "user_id": admin, "name": "ci",
                             "role": None, "scope": "manage", "forms": [form_id], "prefix": "fms_ab",
                             "expires_at": None, "revoked_at": None, "created_at": _ts(1)})
    form = {"id": form_id, "owner_id": admin, "version": 1, "title": "Contact", "description": "d",
            "schema": {"type": "object", "properties": {"age": {"type": "integer"}, "email": {"type": "string"}}},
            "settings": {}, "sensitive": ["email"], "created_at": _ts(2), "updated_at": _ts(2), "updated_by": admin}
    store.create_form(form)
    assert store.add_form_version({**form, "version": 2, "title": "Contact v2", "updated_at": _ts(3)}, 1)
    store.put_share({"form_id": form_id, "user_id": editor, "role": "editor", "granted_by": admin,
                     "created_at": _ts(3), "updated_at": _ts(3)})
    subs = []
    for n in range(SUBMISSIONS):
        sub = {"id": _id(), "form_id": form_id, "form_version": 2, "status": "submitted",
               "answers": {"age": n, "email": f"p{n}@example.org"}, "meta": {"n": n}, "rev": 1,
               "created_by": editor, "created_at": _ts(10 + n), "updated_at": _ts(10 + n)}
        event = {"id": _id(), "topic": "submission.created", "key": sub["id"], "payload": {"id": sub["id"]},
                 "created_at": sub["created_at"], "request_id": f"req-{n}"}
        idem = ({"scope": f"form:{form_id}", "key": "idem-0", "body_hash": "b" * 64, "status_code": 201,
                 "response": {"id": sub["id"]}, "created_at": sub["created_at"]} if n == 0 else None)
        store.insert_submission(sub, [event], idem)
        subs.append(sub)
    first, last = subs[0], subs[-1]
    revision = {"submission_id": first["id"], "rev": 1, "status": "submitted", "answers": first["answers"],
                "changed_by": admin, "changed_at": _ts(400)}
    assert store.update_submission(first["id"], {"status": "approved", "updated_at": _ts(400)}, revision, [], 1)
    gone = {"submission_id": last["id"], "rev": 1, "status": "submitted", "answers": last["answers"],
            "changed_by": admin, "changed_at": _ts(401)}
    assert store.update_submission(last["id"], {"deleted_at": _ts(401), "updated_at": _ts(401)}, gone, [], 1)
    store.create_link({"id": _id(), "form_id": form_id, "token_hash": "d" * 64, "prefix": "pl_", "expires_at": None,
                       "quota": 10, "used": 0, "created_by": admin, "created_at": _ts(5), "revoked_at": None})
    for seq in (1, 2):
        store.insert_audit({"seq": seq, "at": _ts(seq), "actor": admin, "action": "form.create",
                            "target": f"form:{form_id}", "details": {"n": seq}, "prev_hash": f"{seq - 1:064d}",
                            "hash": f"{seq:064d}"})
    sent = store.pending_events(5)
    store.mark_events_sent([e["id"] for e in sent], _ts(500))
    for state in ("succeeded", "dead", "queued"):
        store.put_task({"id": _id(), "actor": "webhook.deliver", "queue": "default", "state": state,
                        "created_at": _ts(600), "updated_at": _ts(600), "message": {"args": [1], "kwargs": {}},
                        "created_by": admin})
    store.mark_done(f"email:{first['id']}", _ts(601))
    store.create_webhook({"id": hook_id, "form_id": form_id, "url": "https://hooks.example.org/x",
                          "secret": "whsec_x", "events": ["submission.created"], "created_at": _ts(6),
                          "updated_at": _ts(6)})
    store.put_delivery({"id": _id(), "endpoint_id": hook_id, "event_id": sent[0]["id"], "form_id": form_id,
                        "topic": "submission.created", "payload": {"a": 1}, "state": "pending",
                        "created_at": _ts(602), "updated_at": _ts(602), "next_attempt_at": _ts(602)})
    store.put_model({"id": model_id, "name": "gemma", "format": "gguf", "path": "/models/g.gguf", "sha256": "e" * 64,
                     "size": 1, "architecture": "gemma3", "quantization": "Q4_K_M", "info": {"n_ctx": 2048},
                     "source": "test", "created_by": admin, "created_at": _ts(7)})
    store.put_embedding({"submission_id": first["id"], "form_id": form_id, "model_sha256": "f" * 64, "dim": 4,
                         "vector": bytes(range(16)), "text_hash": "t", "created_at": _ts(8)})
    store.put_benchmark({"id": bench_id, "model_id": model_id, "report": {"unit": "tok/s"}, "created_by": admin,
                         "created_at": _ts(9)})
    return {"admin": admin, "editor": editor, "form": form_id, "hook": hook_id, "bench": bench_id,
            "first": first["id"], "last": last["id"]}


def _everything(store: FmsStore, ids: dict[str, str]) -> dict[str, Any]:
    """Every record written by :func:`_fill`, read through the store API."""
    form = ids["form"]

    def all_submissions(deleted: bool) -> list[dict[str, Any]]:
        return store.query_submissions(SubmissionQuery(form_id=form, deleted=deleted, limit=SUBMISSIONS + 10))

    return {
        "users": store.list_users(),
        "keys": store.list_credentials("api_key"),
        "identity": store.get_identity("a" * 64),
        "form": store.get_form(form),
        "versions": store.list_form_versions(form),
        "shares": store.list_shares(form),
        "submissions": all_submissions(False),
        "deleted": all_submissions(True),
        "count": store.count_submissions(SubmissionQuery(form_id=form)),
        "revisions": [store.list_revisions(ids["first"]), store.list_revisions(ids["last"])],
        "idempotency": store.get_idempotency(f"form:{form}", "idem-0"),
        "links": store.list_links(form),
        "audit": store.list_audit(0, 100),
        "outbox": store.pending_events(SUBMISSIONS + 10),
        "tasks": {state: store.list_tasks(state, None, None, 10) for state in ("succeeded", "dead", "queued")},
        "done": store.is_done(f"email:{ids['first']}"),
        "webhooks": store.list_webhooks(form),
        "deliveries": store.list_deliveries(ids["hook"], None, None, 10),
        "models": store.list_models(),
        "embedding": store.get_embedding(ids["first"]),
        "benchmark": store.get_benchmark(ids["bench"]),
        "schema": store.schema_status(),
    }


def _check_filled(data: dict[str, Any]) -> None:
    """The fill really produced what the comparison relies on (an empty read would compare equal too)."""
    assert [u["username"] for u in data["users"]] == ["admin", "edna"]
    assert len(data["keys"]) == 1 and data["identity"] is not None
    assert data["form"]["version"] == 2 and len(data["versions"]) == 2 and len(data["shares"]) == 1
    assert len(data["submissions"]) == SUBMISSIONS - 1 == data["count"] and len(data["deleted"]) == 1
    assert data["revisions"][0] and data["revisions"][1] and data["idempotency"] is not None
    assert len(data["links"]) == 1 and len(data["audit"]) == 2
    assert len(data["outbox"]) == SUBMISSIONS - 5
    assert all(len(v) == 1 for v in data["tasks"].values()) and data["done"]
    assert len(data["webhooks"]) == 1 and len(data["deliveries"]) == 1
    assert len(data["models"]) == 1 and data["embedding"]["vector"] == bytes(range(16))
    assert data["benchmark"]["report"] == {"unit": "tok/s"}
    assert data["schema"][0] == data["schema"][1] > 0


@pytest.fixture
def live(tmp_path: Path) -> tuple[FmsStore, dict[str, str], dict[str, Any]]:
    """A store opened by the app's own code, filled and left open (as the API holds it)."""
    data = tmp_path / "data"
    (data / "exports" / "form=1").mkdir(parents=True)
    (data / "exports" / "form=1" / "2026-01-01.jsonl").write_text('{"a": 1}\n')
    store = open_store(_settings(data))
    ids = _fill(store)
    before = _everything(store, ids)
    _check_filled(before)
    return store, ids, before


def test_backup_then_restore_into_a_fresh_directory_keeps_every_record(
        tmp_path: Path, live: tuple[FmsStore, dict[str, str], dict[str, Any]]) -> None:
    store, ids, before = live
    data = tmp_path / "data"
    assert (data / "fms.sqlite3-wal").stat().st_size > 0, "rows still in the WAL: the backup must include them"
    expired = tmp_path / "backups" / "20200101T000000Z"
    expired.mkdir(parents=True)
    old = time.time() - 30 * 86400
    os.utime(expired, (old, old))

    backup = run(["bash", str(SCRIPTS / "fms-backup")], env=_env(tmp_path, data))
    assert backup.returncode == 0, backup.stderr
    made = [p for p in (tmp_path / "backups").iterdir() if p.name.startswith("20") and p != expired]
    assert len(made) == 1
    assert not expired.exists(), "retention removes backups older than FMS_BACKUP_KEEP_DAYS"
    assert {p.name for p in made[0].iterdir()} == {"fms.sqlite3", "exports.tar.gz", "SHA256SUMS"}

    # what happens after the backup is not in it
    store.create_user({"id": _id(), "username": "late", "password_hash": "h", "role": "viewer", "active": 1,
                       "created_at": _ts(900), "updated_at": _ts(900)})

    fresh = tmp_path / "restored"
    fresh.mkdir()
    restore = run(["bash", str(SCRIPTS / "fms-restore"), str(made[0])], env=_env(tmp_path, fresh))
    assert restore.returncode == 0, restore.stderr
    restored = open_store(_settings(fresh))
    try:
        assert _everything(restored, ids) == before
        assert restored.migrate().applied == (), "the restored schema is at this release's head"
    finally:
        restored.close()
        store.close()
    assert (fresh / "exports" / "form=1" / "2026-01-01.jsonl").read_text() == '{"a": 1}\n'


def test_restore_over_the_live_directory_keeps_the_replaced_store(
        tmp_path: Path, live: tuple[FmsStore, dict[str, str], dict[str, Any]]) -> None:
    store, ids, before = live
    data = tmp_path / "data"
    assert run(["bash", str(SCRIPTS / "fms-backup")], env=_env(tmp_path, data)).returncode == 0
    made = next(p for p in (tmp_path / "backups").iterdir() if p.name.startswith("20"))
    store.delete_user(ids["editor"])  # the damage the restore undoes (fms.target is stopped by then)
    store.close()
    (data / "exports" / "form=1" / "2026-01-01.jsonl").unlink()

    restore = run(["bash", str(SCRIPTS / "fms-restore"), str(made)], env=_env(tmp_path, data))
    assert restore.returncode == 0, restore.stderr
    restored = open_store(_settings(data))
    try:
        assert _everything(restored, ids) == before
    finally:
        restored.close()
    assert (data / "exports" / "form=1" / "2026-01-01.jsonl").read_text() == '{"a": 1}\n'
    assert list(data.glob("fms.sqlite3.before-restore-*")), "the replaced store is kept"


def test_restore_refuses_a_tampered_backup(tmp_path: Path) -> None:
    data = tmp_path / "data"
    open_store(_settings(data)).close()
    assert run(["bash", str(SCRIPTS / "fms-backup")], env=_env(tmp_path, data)).returncode == 0
    made = next(p for p in (tmp_path / "backups").iterdir() if p.name.startswith("20"))
    with open(made / "fms.sqlite3", "ab") as fh:
        fh.write(b"garbage")
    result = run(["bash", str(SCRIPTS / "fms-restore"), str(made)], env=_env(tmp_path, data))
    assert result.returncode != 0
    assert not list(data.glob("fms.sqlite3.before-restore-*")), "nothing was touched"
