"""Group commit: many threads' writes, one transaction, one fsync.

With ``synchronous=FULL`` every SQLite commit waits for the disk (about 6 ms
here), so one-transaction-per-request caps ingest near 1/fsync. Here the first
thread to arrive becomes the leader and commits whatever the other threads
queued meanwhile in the same transaction, each in its own SAVEPOINT so one
write's failure (say, a reused idempotency key) touches no other. Nobody gets
an answer before the COMMIT that made their write durable returns.

Across processes (gunicorn workers) the leaders queue on one ``flock`` next to
the database rather than in SQLite's busy handler: that handler sleeps 1, 2,
5 … up to 100 ms between retries of a locked ``BEGIN IMMEDIATE``, which is what
made ingest's p99 ten times its median, while a blocked ``flock`` returns the
moment the holder lets go. A leader takes its batch only once it holds the
lock, so whatever its worker's threads queued while another process was
committing goes into the same fsync. A batch of one write needs no SAVEPOINT (its
failure rolls back the transaction, which holds nothing else).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

Write = Callable[[sqlite3.Connection], None]


@dataclass
class _Job:
    write: Write
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupCommitter:
    def __init__(self, transaction: Callable[[], AbstractContextManager[sqlite3.Connection]],
                 max_batch: int = 64, lock_path: str | None = None) -> None:
        self._transaction = transaction
        self._max_batch = max_batch
        self._lock_path = lock_path
        self._lock_fd: tuple[int, int] | None = None  # (pid, fd): a forked worker opens its own
        self._mutex = threading.Lock()
        self._queue: list[_Job] = []
        self._leader_active = False

    def run(self, write: Write) -> None:
        """Apply ``write`` durably, possibly together with other threads' writes."""
        job = _Job(write)
        with self._mutex:
            self._queue.append(job)
            lead = not self._leader_active
            if lead:
                self._leader_active = True
        if lead:
            self._lead()
        job.done.wait()
        if job.error is not None:
            raise job.error

    def _take(self) -> list[_Job]:
        with self._mutex:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch:]
            if not batch:
                self._leader_active = False
            return batch

    def _lead(self) -> None:
        while True:
            with self._writer():
                # Taken once the write lock is ours: what queued while another process committed joins.
                batch = self._take()
                if not batch:
                    return
                self._commit(batch)
            for job in batch:
                job.done.set()

    def _commit(self, batch: list[_Job]) -> None:
        try:
            with self._transaction() as conn:
                if len(batch) == 1:
                    batch[0].write(conn)
                else:
                    for job in batch:
                        self._apply(conn, job)
        except BaseException as exc:  # noqa: BLE001 - COMMIT failed: no write in it is durable
            for job in batch:
                job.error = job.error or exc

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """Hold the cross-process write lock (when there is a lock file) for one transaction."""
        if self._lock_path is None:
            yield
            return
        pid = os.getpid()
        if self._lock_fd is None or self._lock_fd[0] != pid:
            self._lock_fd = (pid, os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600))
        fd = self._lock_fd[1]
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks without the GIL; wakes as soon as the holder unlocks
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @staticmethod
    def _apply(conn: sqlite3.Connection, job: _Job) -> None:
        conn.execute("SAVEPOINT job")
        try:
            job.write(conn)
        except Exception as exc:  # noqa: BLE001 - reported to that job's caller only
            conn.execute("ROLLBACK TO job")
            job.error = exc
        conn.execute("RELEASE job")

