"""The relay doubles as the scheduler under supervisord: it runs the process tree's timers.

Each job runs the declared command in a child process against the test's real
data dir, as ``fms-<name>.service`` would under systemd.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.process_tree import TIMERS
from app.services import Services
from app.settings import Settings
from app.util import now_iso
from tasks.relay import Relay
from tasks.timers import Scheduler
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


class WallClock:
    """A UTC wall clock we move by hand (the schedule is UTC calendar time)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _scheduler(settings: Settings, names: str, clock: WallClock | None = None) -> Scheduler:
    """The relay's scheduler for ``names``, its jobs pointed at the test's data dir."""
    env = {"FMS_DATA_DIR": str(settings.data_dir), "REDIS_URL": settings.redis_url, "PATH": "/usr/bin:/bin",
           "FMS_SECRET_KEY": "test-secret", "FMS_TIMERS": names}
    scheduler = Scheduler.from_names(names, settings.data_dir, env, **({"now": clock} if clock else {}))
    assert scheduler is not None
    return scheduler


def test_relay_purges_soft_deleted_submissions_past_retention(api: Api, svc: Services, settings: Settings,
                                                              form: dict[str, Any]) -> None:
    ids = _submit(api, form, 3)
    _deleted_long_ago(api, svc, ids[0])
    api.delete(f"/api/v1/submissions/{ids[1]}")
    assert svc.store.put_task({"id": "old-task", "actor": "validate.echo", "queue": "high", "state": "succeeded",
                               "created_at": OLD, "updated_at": OLD, "finished_at": OLD,
                               "message": {"args": [], "kwargs": {}}})
    assert Relay(svc.store, broker=None, scheduler=_scheduler(settings, "purge")).run_timers() == ["purge"]
    assert svc.store.get_submission(ids[0]) is None  # deleted long ago: purged
    assert svc.store.get_submission(ids[1]) is not None  # deleted just now: still restorable
    assert svc.store.get_submission(ids[2]) is not None  # live
    assert svc.store.get_task("old-task") is None  # finished task records past retention go too


def test_timers_run_at_once_after_start_then_at_their_time(api: Api, svc: Services, settings: Settings,
                                                         form: dict[str, Any]) -> None:
    """A timer that never ran runs on the first loop; then at its declared time, across restarts."""
    purge = next(t for t in TIMERS if t.name == "purge")
    clock = WallClock(datetime(2031, 5, 6, 10, 20, tzinfo=UTC))
    relay = Relay(svc.store, broker=None, scheduler=_scheduler(settings, "purge", clock))
    first, second = _submit(api, form, 2)
    _deleted_long_ago(api, svc, first)
    assert relay.run_timers() == ["purge"]
    assert svc.store.get_submission(first) is None  # ran on the first loop, not an hour after start
    _deleted_long_ago(api, svc, second)
    clock.now += timedelta(seconds=60)
    assert relay.run_timers() == []
    restarted = Relay(svc.store, broker=None, scheduler=_scheduler(settings, "purge", clock))
    assert restarted.run_timers() == []  # the last start is on disk: a restart does not run it again
    assert svc.store.get_submission(second) is not None
    clock.now = purge.last_due(clock.now) + purge.every  # its next scheduled instant
    assert restarted.run_timers() == ["purge"]
    assert svc.store.get_submission(second) is None


def test_relay_runs_the_days_export_once(svc: Services, settings: Settings, form: dict[str, Any]) -> None:
    from etl.export import due_day

    yesterday = due_day().isoformat()  # `fms export`'s own idea of the day due, so midnight cannot split them
    svc.store.insert_submission({
        "id": "01EXPORTED", "form_id": form["id"], "form_version": 1, "status": "submitted",
        "answers": {"name": "y", "email": "y@example.org"}, "meta": {}, "rev": 1, "created_by": None,
        "created_at": f"{yesterday}T12:00:00.000000Z", "updated_at": f"{yesterday}T12:00:00.000000Z",
        "deleted_at": None}, [], None)
    out = settings.data_dir / "exports"
    clock = WallClock(datetime(2031, 5, 6, 10, 20, tzinfo=UTC))
    relay = Relay(svc.store, broker=None, scheduler=_scheduler(settings, "export", clock))
    assert relay.run_timers() == ["export"]
    part = out / "parquet" / f"form_id={form['id']}" / f"date={yesterday}" / "submissions.parquet"
    assert part.exists() and (out / ".done" / yesterday).exists()
    part.unlink()
    clock.now += timedelta(hours=6)
    assert relay.run_timers() == []
    assert not part.exists()  # done once that day: its next time is tomorrow


def test_backup_runs_under_the_relay_into_the_data_dir(svc: Services, settings: Settings,
                                                       form: dict[str, Any]) -> None:
    """Backups run under supervisord too, from the same row as fms-backup.timer."""
    svc.store.insert_submission({
        "id": "01BACKEDUP", "form_id": form["id"], "form_version": 1, "status": "submitted",
        "answers": {"name": "b", "email": "b@example.org"}, "meta": {}, "rev": 1, "created_by": None,
        "created_at": now_iso(), "updated_at": now_iso(), "deleted_at": None}, [], None)
    assert Relay(svc.store, broker=None, scheduler=_scheduler(settings, "backup")).run_timers() == ["backup"]
    made = [p for p in (settings.data_dir / "backups").iterdir() if p.name.startswith("20")]
    assert len(made) == 1 and (made[0] / "fms.sqlite3").exists()
    import sqlite3

    with sqlite3.connect(made[0] / "fms.sqlite3") as copy:
        assert copy.execute("SELECT count(*) FROM submissions WHERE id = '01BACKEDUP'").fetchone() == (1,)


def test_a_failed_timer_waits_for_its_next_time(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = {"PATH": "/usr/bin:/bin", "FMS_DATA_DIR": str(tmp_path / "nothing-here")}
    clock = WallClock(datetime(2031, 5, 6, 10, 20, tzinfo=UTC))
    scheduler = Scheduler.from_names("backup", tmp_path / "nothing-here", env, clock)
    assert scheduler is not None
    with caplog.at_level(logging.WARNING, logger="tasks.timers"):
        assert scheduler.run_due() == ["backup"]  # no store there: fms-backup exits 1
    failed = [r for r in caplog.records if r.getMessage() == "timer failed; runs again at its next time"]
    assert len(failed) == 1 and failed[0].returncode == 1 and "no store found" in failed[0].output
    assert scheduler.run_due() == []  # not again at once (no retry storm), like a systemd timer
    with pytest.raises(ValueError, match="nightly"):
        Scheduler.from_names("purge,nightly", tmp_path, env)  # a name the tree does not declare


def test_the_day_due_waits_out_the_grace_after_midnight() -> None:
    from datetime import UTC, date, datetime

    from etl.export import due_day

    assert due_day(datetime(2026, 12, 2, 0, 5, tzinfo=UTC)) == date(2026, 11, 30)  # 1 Dec not closed yet
    assert due_day(datetime(2026, 12, 2, 0, 15, tzinfo=UTC)) == date(2026, 12, 1)
    assert due_day(datetime(2027, 1, 1, 23, 0, tzinfo=UTC)) == date(2026, 12, 31)


def test_events_keep_moving_while_timers_run(api: Api, svc: Services, settings: Settings, form: dict[str, Any],
                                             broker: Any) -> None:
    """A long purge, backup or daily export runs beside the loop, not in its way."""
    import threading

    from tests.helpers import wait_for

    release, started = threading.Event(), threading.Event()

    class SlowTimers(Relay):
        def run_timers(self) -> list[str]:
            started.set()
            release.wait(30)
            return []

    relay = SlowTimers(svc.store, broker, interval=0.05, scheduler=_scheduler(settings, "purge"))
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
