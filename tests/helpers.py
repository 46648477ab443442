"""Shared test helpers: real redis-server processes, polling, API calls."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> Any:
    """Poll until ``predicate`` returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: {last_exc!r}")


class RedisServer:
    """A real redis-server on a free loopback port, in its own directory."""

    def __init__(self, directory: Path, appendonly: bool = False) -> None:
        self.dir = directory
        self.port = free_port()
        self.appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.dir),
                "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        wait_for(client.ping, 10, what="redis-server to answer PING")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.port, db=db)


def drain_queues(broker: Any, worker: Any = None, queues: tuple[str, ...] = ("default",),
                 timeout: float = 15.0) -> None:
    """Wait until ``queues`` hold nothing: no message waiting, delayed (retries) or in a worker's hands.

    What proves that nothing *more* will arrive: once every message, and every
    message its processing enqueued, was processed and acked, nothing is left
    that could still deliver. Dramatiq's ``broker.join`` counts a queue's
    waiting, delayed and unacked messages; passes repeat until one finds every
    queue empty (a message on one queue may enqueue onto another), then
    ``worker.join`` returns once the in-process worker has nothing in hand.
    """
    deadline = time.monotonic() + timeout
    while True:
        for queue in queues:
            left_ms = max(1, int((deadline - time.monotonic()) * 1000))
            broker.join(queue, timeout=left_ms)
        if worker is not None:
            worker.join()
        if all(broker.do_qsize(queue) == 0 for queue in queues):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"queues {queues} not drained after {timeout}s")
