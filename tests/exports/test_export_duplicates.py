"""Two runs of one export task (a duplicated message): each writes its own part file, one wins.

The broker delivers at least once, so ``analytics.export`` can run twice for
one export, even at the same time. The file a download gets must be one
run's complete output, and its sidecar (rows, bytes) must describe that file.
"""

from __future__ import annotations

import csv
import io
import os
import threading
import time
from typing import Any

from app.exports.service import STALE_PART_S, ExportService
from app.services import Services
from tests.exports.conftest import seed


def _one_more(svc: Services, form: dict[str, Any]) -> None:
    ts = "2026-02-01T00:00:00.000000Z"
    svc.store.insert_submission({
        "id": "SLATE000000", "form_id": form["id"], "form_version": 1, "status": "approved",
        "answers": {"name": "late", "email": "late@example.org", "age": 1, "tags": ["a"], "phone": "+1 555 9999"},
        "meta": {}, "rev": 1, "created_by": None, "created_at": ts, "updated_at": ts, "deleted_at": None,
    }, [], None)


def _csv_rows(path: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_concurrent_runs_leave_one_complete_file_that_its_sidecar_describes(svc: Services,
                                                                           form: dict[str, Any]) -> None:
    seed(svc, form, 600)
    exports = ExportService(svc.store, svc.settings)
    meta = exports.create(form, "csv", {}, "owner", frozenset(), "TASK1")
    inside, go = threading.Event(), threading.Event()
    first: dict[str, Any] = {}

    def hold(done: int, total: int) -> None:  # the first run stops mid-file, its part file open
        inside.set()
        assert go.wait(30)

    def slow_run() -> None:
        try:
            first["meta"] = exports.run(meta["id"], svc.cursors, on_progress=hold)
        except Exception as exc:  # noqa: BLE001 - the assertion below names it
            first["error"] = exc

    runner = threading.Thread(target=slow_run)
    runner.start()
    assert inside.wait(30), "the first run never started writing"
    _one_more(svc, form)  # the duplicate sees other data, so the two files differ
    second = exports.run(meta["id"], svc.cursors)
    go.set()
    runner.join(30)
    assert "error" not in first, first
    assert second["state"] == "succeeded" and second["rows"] == 601
    assert first["meta"] == second  # the slower run reports the winner's file, not its own
    on_disk = exports.meta(meta["id"])
    path = exports.file_path(on_disk)
    rows = _csv_rows(path)
    assert on_disk == second and len(rows) == on_disk["rows"] == 601
    assert on_disk["bytes"] == path.stat().st_size
    assert len({r["id"] for r in rows}) == 601
    assert not list(exports.root.glob("*.part"))


def test_a_redelivery_after_success_keeps_the_file(svc: Services, form: dict[str, Any]) -> None:
    seed(svc, form, 10)
    exports = ExportService(svc.store, svc.settings)
    meta = exports.create(form, "csv", {}, "owner", frozenset(), "TASK2")
    done = exports.run(meta["id"], svc.cursors)
    before = exports.file_path(done).read_bytes()
    _one_more(svc, form)
    again = exports.run(meta["id"], svc.cursors)
    assert again == done and exports.file_path(done).read_bytes() == before
    exports.mark_failed(meta["id"], "a failing duplicate")  # cannot undo a success
    assert exports.meta(meta["id"])["state"] == "succeeded"


def test_part_files_left_by_killed_runs_are_swept(svc: Services) -> None:
    exports = ExportService(svc.store, svc.settings)
    exports.root.mkdir(parents=True)
    stale, live = exports.root / "A.X.part", exports.root / "B.Y.part"
    stale.write_bytes(b"half")
    live.write_bytes(b"being written")
    old = time.time() - STALE_PART_S - 60
    os.utime(stale, (old, old))
    exports.purge_expired()
    assert not stale.exists() and live.exists()
