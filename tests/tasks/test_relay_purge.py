"""The relay doubles as the scheduler under supervisord: it purges past retention."""

from __future__ import annotations

from typing import Any

from app.services import Services
from tasks.relay import Relay
from tests.conftest import Api

OLD = "2000-01-01T00:00:00.000000Z"


def test_relay_purges_soft_deleted_submissions_past_retention(api: Api, svc: Services, form: dict[str, Any]) -> None:
    ids = [api.post(f"/api/v1/forms/{form['id']}/submissions",
                    {"answers": {"name": f"n{i}", "email": "n@example.org"}}).json["id"] for i in range(3)]
    for sid in ids[:2]:
        api.delete(f"/api/v1/submissions/{sid}")
    old = svc.store.get_submission(ids[0])
    svc.store.update_submission(ids[0], {"deleted_at": OLD}, {
        "submission_id": ids[0], "rev": old["rev"], "status": old["status"], "answers": old["answers"],
        "changed_by": "t", "changed_at": OLD}, [], old["rev"])
    Relay(svc.store, broker=None, deleted_retention_days=30)._maybe_purge()
    assert svc.store.get_submission(ids[0]) is None  # deleted long ago: purged
    assert svc.store.get_submission(ids[1]) is not None  # deleted just now: still restorable
    assert svc.store.get_submission(ids[2]) is not None  # live


def test_relay_runs_yesterdays_export_once(svc: Services, form: dict[str, Any], tmp_path: Any) -> None:
    from datetime import UTC, datetime, timedelta

    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    svc.store.insert_submission({
        "id": "01EXPORTED", "form_id": form["id"], "form_version": 1, "status": "submitted",
        "answers": {"name": "y", "email": "y@example.org"}, "meta": {}, "rev": 1, "created_by": None,
        "created_at": f"{yesterday}T12:00:00.000000Z", "updated_at": f"{yesterday}T12:00:00.000000Z",
        "deleted_at": None}, [], None)
    out = tmp_path / "exports"
    relay = Relay(svc.store, broker=None, export_dir=out)
    relay._maybe_purge()  # the hourly maintenance: purge, then the daily export
    part = out / "parquet" / f"form_id={form['id']}" / f"date={yesterday}" / "submissions.parquet"
    assert part.exists() and (out / ".done" / yesterday).exists()
    part.unlink()
    relay._maybe_export()
    assert not part.exists()  # done once: the marker stops a second run
