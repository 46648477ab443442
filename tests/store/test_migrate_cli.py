"""``fms migrate`` on a real data dir holding the previous release's database (SQLite)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from app.store.migrations import sqlite as sqlite_migrations
from tests.store.conftest import load_sqlite_snapshot

ROOT = Path(__file__).resolve().parents[2]
HEAD = len(sqlite_migrations.MIGRATIONS)


def fms(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"FMS_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "FMS_SECRET_KEY": "test-secret"}
    return subprocess.run([sys.executable, "-m", "app.cli", "migrate", *args], env=env, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_check_reports_pending_then_migrate_prints_from_and_to_then_check_passes(tmp_path: Path) -> None:
    db = tmp_path / "fms.sqlite3"
    load_sqlite_snapshot(db)

    pending = fms(tmp_path, "--check")
    assert pending.returncode == 1, pending.stderr
    assert f"version 0; this release knows {HEAD}" in pending.stdout and "pending" in pending.stderr
    assert _user_version(db) == 0  # --check writes nothing

    done = fms(tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"migrated from version 0 to {HEAD}" in done.stdout
    assert _user_version(db) == HEAD

    again = fms(tmp_path)
    assert again.returncode == 0 and "nothing to apply" in again.stdout
    assert fms(tmp_path, "--check").returncode == 0


def test_a_newer_schema_is_refused_with_both_versions(tmp_path: Path) -> None:
    db = tmp_path / "fms.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {HEAD + 5}")  # what a future release would leave behind
    conn.close()

    check = fms(tmp_path, "--check")
    assert check.returncode == 2 and "refused" in check.stderr

    refused = fms(tmp_path)
    assert refused.returncode == 1
    assert f"version {HEAD + 5}" in refused.stderr and f"up to {HEAD}" in refused.stderr
    assert _user_version(db) == HEAD + 5
