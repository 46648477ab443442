"""The process tree's timers where the service manager has none (supervisord).

systemd runs every ``Timer`` of ``app.process_tree`` as ``fms-<name>.timer``;
supervisord cannot, so the process that declares ``runs_timers`` (the relay)
is rendered with ``FMS_TIMERS`` and runs the same commands, with the same
environment, from the same rows (:func:`app.render.supervisor.timer_jobs`).
Only the names in ``FMS_TIMERS`` run here, so a systemd host (no
``FMS_TIMERS``) never runs a job twice.

Like systemd's ``Persistent=true``, the last start of each timer is kept on
disk (``<data_dir>/timers/<name>``): a timer runs when its latest scheduled
instant is later than its last start, so a restart of the relay does not run
everything again, and a run missed while nothing ran happens at the next
start. A timer that never ran runs at once.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from app.render.supervisor import Context, TimerJob, timer_jobs
from tasks import metrics

log = logging.getLogger("tasks.timers")
OUTPUT_TAIL = 2000  # characters of a failed job's output kept in its log line


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """Runs the due jobs, one at a time, each in a child process (as systemd would)."""

    def __init__(self, jobs: list[TimerJob], stamp_dir: Path, env: Mapping[str, str] | None = None,
                 now: Callable[[], datetime] = _utc_now, cwd: Path | None = None) -> None:
        self.jobs, self.stamp_dir, self._now, self.cwd = jobs, stamp_dir, now, cwd
        base = dict(os.environ if env is None else env)
        base.pop("FMS_TIMERS", None)  # the jobs are not schedulers themselves
        # nor the relay: in its multiprocess directory each run's files would stay until it restarts
        # (a timer unit under systemd has none either; a job's metrics end with it)
        base.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self._env = base
        self._last = {job.timer.name: self._read_stamp(job.timer.name) for job in jobs}
        self._child: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._stopped = False

    @classmethod
    def from_names(cls, names: str, data_dir: Path, env: Mapping[str, str] | None = None,
                   now: Callable[[], datetime] = _utc_now) -> Scheduler | None:
        """The scheduler for ``FMS_TIMERS`` (comma-separated names); None when it names none."""
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        if not wanted:
            return None
        ctx = Context.here(data_dir)
        jobs = timer_jobs(ctx, wanted)
        unknown = set(wanted) - {job.timer.name for job in jobs}
        if unknown:
            raise ValueError(f"FMS_TIMERS names timers the process tree does not declare: {sorted(unknown)}")
        return cls(jobs, ctx.data_dir / "timers", env, now, ctx.root)

    def _stamp(self, name: str) -> Path:
        return self.stamp_dir / name

    def _read_stamp(self, name: str) -> datetime | None:
        try:
            return datetime.fromisoformat(self._stamp(name).read_text().strip())
        except (OSError, ValueError):
            return None  # never ran (or an unreadable stamp): run at once

    def _write_stamp(self, name: str, at: datetime) -> None:
        self.stamp_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._stamp(name).with_suffix(".tmp")
        tmp.write_text(at.isoformat())
        tmp.replace(self._stamp(name))
        self._last[name] = at

    def due(self) -> list[TimerJob]:
        """The jobs whose latest scheduled instant is after their last start."""
        now = self._now()
        return [job for job in self.jobs
                if (last := self._last[job.timer.name]) is None or last < job.timer.last_due(now)]

    def run_due(self) -> list[str]:
        """Run every due job in declaration order; the names of those that ran (failed ones too)."""
        ran = []
        for job in self.due():
            if self._stopped:
                break
            self._write_stamp(job.timer.name, self._now())  # a failed run waits for the next instant, as in systemd
            self._run(job)
            ran.append(job.timer.name)
        return ran

    def _run(self, job: TimerJob) -> None:
        started = time.monotonic()
        with self._lock:
            if self._stopped:
                return
            self._child = subprocess.Popen(job.argv, cwd=self.cwd, env={**self._env, **job.env}, text=True,
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            output, _ = self._child.communicate(timeout=job.timer.timeout)
        except subprocess.TimeoutExpired:
            self._child.kill()
            output, _ = self._child.communicate()
        code = self._child.returncode
        with self._lock:
            self._child = None
        extra = {"timer": job.timer.name, "returncode": code, "seconds": round(time.monotonic() - started, 3)}
        if code == 0:
            log.info("timer ran", extra=extra)
        else:
            metrics.RELAY_ERRORS.inc()
            log.warning("timer failed; runs again at its next time", extra={**extra, "output": output[-OUTPUT_TAIL:]})

    def stop(self) -> None:
        """Start nothing more and end the job running now (the relay is stopping)."""
        with self._lock:
            self._stopped = True
            if self._child is not None and self._child.poll() is None:
                self._child.terminate()
