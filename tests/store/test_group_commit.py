"""Group commit: concurrent writers share one durable COMMIT; a failing write fails alone."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.store.group_commit import GroupCommitter
from tests.helpers import wait_for


def test_concurrent_writes_share_one_commit_and_fail_alone(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "g.sqlite3", isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    commits: list[int] = []
    gate = threading.Event()

    @contextmanager
    def transaction() -> Iterator[sqlite3.Connection]:
        assert gate.wait(10)  # hold the first COMMIT until the others have queued behind it
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        commits.append(1)

    committer = GroupCommitter(transaction)
    results: dict[int, str] = {}

    def writer(i: int, key: str) -> None:
        try:
            committer.run(lambda c: c.execute("INSERT INTO t VALUES (?)", (key,)))
            results[i] = "ok"
        except sqlite3.IntegrityError:
            results[i] = "duplicate"

    keys = ["a", "b", "c", "d", "e", "a"]
    threads = [threading.Thread(target=writer, args=(i, k)) for i, k in enumerate(keys)]
    threads[0].start()
    wait_for(lambda: committer._leader_active, 5, what="a leader")
    for t in threads[1:]:
        t.start()
    wait_for(lambda: len(committer._queue) == 5, 5, what="five writers queued behind the leader")
    gate.set()
    for t in threads:
        t.join(10)
    assert sorted(r[0] for r in conn.execute("SELECT k FROM t")) == ["a", "b", "c", "d", "e"]
    assert sorted(results.values()) == ["duplicate", "ok", "ok", "ok", "ok", "ok"]
    assert len(commits) == 2  # the leader's own write, then the five queued ones together
    assert not committer._leader_active


def test_a_leader_waiting_for_another_process_takes_everything_queued_meanwhile(tmp_path: Path) -> None:
    """Across processes the leaders queue on a flock; what queues while one waits shares its fsync."""
    import fcntl
    import os

    conn = sqlite3.connect(tmp_path / "g.sqlite3", isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    commits: list[int] = []

    @contextmanager
    def transaction() -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
        commits.append(1)

    lock_path = str(tmp_path / "g.sqlite3-writelock")
    committer = GroupCommitter(transaction, lock_path=lock_path)
    other_process = os.open(lock_path, os.O_RDWR | os.O_CREAT)  # its own open file: flock conflicts with it
    fcntl.flock(other_process, fcntl.LOCK_EX)
    def insert(key: str) -> None:
        committer.run(lambda c: c.execute("INSERT INTO t VALUES (?)", (key,)))

    threads = [threading.Thread(target=insert, args=(k,)) for k in "abcd"]
    for t in threads:
        t.start()
    wait_for(lambda: len(committer._queue) == 4, 5, what="four writers queued while the lock is held elsewhere")
    assert commits == []
    fcntl.flock(other_process, fcntl.LOCK_UN)
    os.close(other_process)
    for t in threads:
        t.join(10)
    assert sorted(r[0] for r in conn.execute("SELECT k FROM t")) == ["a", "b", "c", "d"]
    assert len(commits) == 1  # one transaction, one fsync, for all four
