"""One heavy analytics computation at a time per API host: a ``flock`` in the data dir.

Why: a summary, a time series or a streamed export runs in the API worker
that got the request and adds tens of MB to it while it runs (DuckDB, the
Arrow tables, a Parquet row group; docs/benchmarks.md "DuckDB and exports
inside API workers"). Every gunicorn worker shares the api unit's cgroup
(``MemoryMax=512M``), so two at once add their peaks and the kernel kills a
worker. A lock file next to the database serialises them across every
worker *and* every thread of a worker (each acquisition opens its own file
description, and ``flock`` locks conflict between descriptions even inside
one process), the way :mod:`app.store.group_commit` serialises commits.

The wait is bounded (``FMS_ANALYTICS_LOCK_WAIT``): a request that cannot get
the lock in time gets :class:`AnalyticsBusy` (503, ``Retry-After``) rather
than holding a gunicorn thread until the worker timeout. A holder killed
mid-way loses the lock with its process (the kernel drops ``flock`` locks
with the last descriptor), so a crash never leaves the host locked.

No Flask here: the summary service and the export view both use it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.errors import ApiError

LOCK_FILE = "analytics-heavy.lock"
POLL_S = 0.02  # flock has no timeout; a non-blocking try this often costs nothing next to a summary
RETRY_AFTER_S = 5  # a summary inline is at most a few seconds (FMS_ANALYTICS_INLINE_MAX_ROWS bounds it)


class AnalyticsBusy(ApiError):
    """503 ``analytics_busy``: another summary or export holds this host's analytics lock."""

    status, code = 503, "analytics_busy"
    retry_after = RETRY_AFTER_S


def lock_path(data_dir: Path) -> Path:
    return Path(data_dir) / LOCK_FILE


class Hold:
    """One acquisition of the lock; :meth:`release` may be called more than once (only the first counts),
    so a streamed body can let go at its last chunk and again when the server closes it."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)  # closing alone would unlock too; being explicit keeps it obvious
        finally:
            os.close(fd)


class HeavyGate:
    """The host-wide lock around one heavy computation; ``wait`` seconds at most to get it."""

    def __init__(self, path: Path, wait: float) -> None:
        self.path = path
        self.wait = wait

    def try_acquire(self) -> Hold | None:
        """The lock, or None once ``wait`` has passed with another holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return Hold(fd)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(POLL_S)

    def busy(self) -> AnalyticsBusy:
        return AnalyticsBusy(f"another summary or export is running on this host; waited {self.wait:g} s",
                             [{"retry_after": RETRY_AFTER_S}])

    def acquire(self) -> Hold:
        """The lock, or :class:`AnalyticsBusy` after ``wait`` seconds."""
        hold = self.try_acquire()
        if hold is None:
            raise self.busy()
        return hold

    @contextmanager
    def held(self) -> Iterator[None]:
        hold = self.acquire()
        try:
            yield
        finally:
            hold.release()
