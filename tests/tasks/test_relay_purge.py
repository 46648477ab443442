"""The relay doubles as the scheduler under supervisord: it purges past retention."""

from __future__ import annotations

from typing import Any

from app.services import Services
from tasks.relay import Relay
from tests.conftest import Api

OLD = "2000-01-01T00:00:00.000000Z"


def _submit(api: Api, form: dict[str, Any], n: int) -> list[str]:
    return [api.post(f"/api/v1/forms/{form['id']}/submissions",
                     {"answers": {"name": f"n{i}", "email": "n@example.org"}}).json["id"] for i in range(n)]


def _deleted_long_ago(api: Api, svc: Services, sid: str) -> None:
    api.delete(f"/api/v1/submissions/{sid}")
    old = svc.store.get_submission(sid)
    svc.store.update_submission(sid, {"deleted_at": OLD}, {
        "submission_id": sid, "rev": old["rev"], "status": old["status"], "answers": old["answers"],
        "changed_by": "t", "changed_at": OLD}, [], old["rev"])


class Clock:
    """A monotonic clock we move by hand; it starts where a just-booted machine's does."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_relay_purges_soft_deleted_submissions_past_retention(api: Api, svc: Services, form: dict[str, Any]) -> None:
    ids = _submit(api, form, 3)
    _deleted_long_ago(api, svc, ids[0])
    api.delete(f"/api/v1/submissions/{ids[1]}")
    Relay(svc.store, broker=None, deleted_retention_days=30)._maybe_purge()
    assert svc.store.get_submission(ids[0]) is None  # deleted long ago: purged
    assert svc.store.get_submission(ids[1]) is not None  # deleted just now: still restorable
    assert svc.store.get_submission(ids[2]) is not None  # live


def test_maintenance_runs_at_once_after_boot_then_hourly(api: Api, svc: Services, form: dict[str, Any]) -> None:
    """Seconds after boot (monotonic ~ 5 s) the first loop already purges; then once an hour."""
    clock = Clock(5.0)
    relay = Relay(svc.store, broker=None, deleted_retention_days=30, clock=clock)
    first, second = _submit(api, form, 2)
    _deleted_long_ago(api, svc, first)
    relay._maybe_purge()
    assert svc.store.get_submission(first) is None  # ran on the first loop, not an hour after boot
    _deleted_long_ago(api, svc, second)
    clock.now += 60
    relay._maybe_purge()
    assert svc.store.get_submission(second) is not None  # within the hour: not again
    clock.now += 3600
    relay._maybe_purge()
    assert svc.store.get_submission(second) is None  # an hour later: again


def test_relay_runs_yesterdays_export_once(svc: Services, form: dict[str, Any], tmp_path: Any) -> None:
    from etl.export import due_day

    yesterday = due_day().isoformat()  # the relay's own idea of the day due, so midnight cannot split them
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


def test_the_day_due_waits_out_the_grace_after_midnight() -> None:
    from datetime import UTC, date, datetime

    from etl.export import due_day

    assert due_day(datetime(2026, 12, 2, 0, 5, tzinfo=UTC)) == date(2026, 11, 30)  # 1 Dec not closed yet
    assert due_day(datetime(2026, 12, 2, 0, 15, tzinfo=UTC)) == date(2026, 12, 1)
    assert due_day(datetime(2027, 1, 1, 23, 0, tzinfo=UTC)) == date(2026, 12, 31)


def test_events_keep_moving_while_maintenance_runs(api: Api, svc: Services, form: dict[str, Any],
                                                   broker: Any) -> None:
    """A long purge or daily export runs beside the loop, not in its way."""
    import threading

    from tests.helpers import wait_for

    release, started = threading.Event(), threading.Event()

    class SlowMaintenance(Relay):
        def _maybe_purge(self) -> None:
            started.set()
            release.wait(30)

    relay = SlowMaintenance(svc.store, broker, interval=0.05)
    loop = threading.Thread(target=relay.run, daemon=True)
    loop.start()
    try:
        assert started.wait(10)
        _submit(api, form, 1)  # written while maintenance is still busy
        assert wait_for(lambda: not svc.store.pending_events(10), timeout=10)
    finally:
        release.set()
        relay.stop.set()
        loop.join(10)
