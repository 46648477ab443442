"""The `fms` command against a real data dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.services import build
from app.settings import Settings
from app.store import SubmissionQuery
from tests.conftest import SAMPLE_SCHEMA, Api


def fms(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"FMS_DATA_DIR": str(settings.data_dir), "REDIS_URL": settings.redis_url, "PATH": "/usr/bin:/bin",
           "FMS_SECRET_KEY": "test-secret"}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).resolve().parents[1])


def test_apikey_create_prints_a_working_scoped_key_once(settings: Settings, client: object) -> None:
    api = Api(client)  # type: ignore[arg-type]
    made = fms(settings, "apikey", "create", "--user", "ops", "--role", "editor", "--scope", "manage")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("fms_") and key not in made.stderr
    form = api.as_(key).post("/api/v1/forms", {"title": "cli", "schema": SAMPLE_SCHEMA})
    assert form.status_code == 201
    wrong_role = fms(settings, "apikey", "create", "--user", "ops", "--role", "viewer")
    assert wrong_role.returncode != 0 and "exists with role editor" in wrong_role.stderr
    viewer = fms(settings, "apikey", "create", "--user", "watcher", "--role", "viewer", "--scope", "write")
    assert viewer.returncode != 0  # a viewer cannot hold a write key


def test_admin_create_and_purge(settings: Settings, api: Api, form: dict) -> None:
    made = fms(settings, "admin", "create", "--username", "boss", stdin="password123\npassword123\n")
    assert made.returncode == 0, made.stderr
    svc = build(settings)
    assert svc.store.get_user_by_name("boss")["role"] == "admin"
    sid = api.post(f"/api/v1/forms/{form['id']}/submissions",
                   {"answers": {"name": "x", "email": "x@example.org"}}).json["id"]
    api.delete(f"/api/v1/submissions/{sid}")
    assert "purged 0" in fms(settings, "purge", "--days", "1").stdout  # deleted just now: kept
    svc.store.update_submission(sid, {"deleted_at": "2000-01-01T00:00:00.000000Z"},
                                {"submission_id": sid, "rev": 2, "status": "submitted", "answers": {},
                                 "changed_by": "t", "changed_at": "2000-01-01T00:00:00.000000Z"}, [], 2)
    assert "purged 1" in fms(settings, "purge", "--days", "1").stdout
    assert svc.store.get_submission(sid) is None
    assert svc.store.count_submissions(SubmissionQuery(form_id=form["id"], deleted=True)) == 0


def test_check_reports_settings_redacted(settings: Settings) -> None:
    out = fms(settings, "check")
    assert out.returncode == 0, out.stderr
    assert "store: ok" in out.stdout and "redis: ok" in out.stdout
    assert settings.redis_url not in out.stdout  # secrets are masked
