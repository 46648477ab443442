"""fms-backup / fms-restore round trip on a real SQLite store in WAL mode."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from tests.ops.conftest import ROOT, run

SCRIPTS = ROOT / "ansible" / "roles" / "fms_backup" / "files"


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "FMS_DATA_DIR": str(tmp_path / "data"), "FMS_BACKUP_DIR": str(tmp_path / "backups"),
            "FMS_BACKUP_KEEP_DAYS": "14", "FMS_RESTORE_NO_SYSTEMCTL": "1",
            "FMS_RESTORE_OWNER": f"{os.getuid()}:{os.getgid()}"}


def _rows(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, body FROM submissions ORDER BY id").fetchall()


def test_backup_then_restore_brings_back_store_and_exports(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "exports" / "form=1").mkdir(parents=True)
    (data / "exports" / "form=1" / "2026-01-01.jsonl").write_text('{"a": 1}\n')
    db = data / "fms.sqlite3"
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE submissions (id INTEGER PRIMARY KEY, body TEXT)")
    writer.executemany("INSERT INTO submissions (body) VALUES (?)", [(f"s{i}",) for i in range(500)])
    writer.commit()  # left open: the backup must work while the API holds the database
    expired = tmp_path / "backups" / "20200101T000000Z"
    expired.mkdir(parents=True)
    old = time.time() - 30 * 86400
    os.utime(expired, (old, old))

    backup = run(["bash", str(SCRIPTS / "fms-backup")], env=_env(tmp_path))
    assert backup.returncode == 0, backup.stderr
    made = [p for p in (tmp_path / "backups").iterdir() if p.name.startswith("20") and p != expired]
    assert len(made) == 1
    assert not expired.exists(), "retention removes backups older than FMS_BACKUP_KEEP_DAYS"
    assert {p.name for p in made[0].iterdir()} == {"fms.sqlite3", "exports.tar.gz", "SHA256SUMS"}

    writer.execute("DELETE FROM submissions WHERE id > 10")
    writer.commit()
    writer.close()
    (data / "exports" / "form=1" / "2026-01-01.jsonl").unlink()

    restore = run(["bash", str(SCRIPTS / "fms-restore"), str(made[0])], env=_env(tmp_path))
    assert restore.returncode == 0, restore.stderr
    assert len(_rows(db)) == 500
    assert (data / "exports" / "form=1" / "2026-01-01.jsonl").read_text() == '{"a": 1}\n'
    assert list(data.glob("fms.sqlite3.before-restore-*")), "the replaced store is kept"


def test_restore_refuses_a_tampered_backup(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "fms.sqlite3") as conn:
        conn.execute("CREATE TABLE submissions (id INTEGER PRIMARY KEY, body TEXT)")
    assert run(["bash", str(SCRIPTS / "fms-backup")], env=_env(tmp_path)).returncode == 0
    made = next(p for p in (tmp_path / "backups").iterdir() if p.name.startswith("20"))
    with open(made / "fms.sqlite3", "ab") as fh:
        fh.write(b"garbage")
    result = run(["bash", str(SCRIPTS / "fms-restore"), str(made)], env=_env(tmp_path))
    assert result.returncode != 0
    assert not list(data.glob("fms.sqlite3.before-restore-*")), "nothing was touched"
