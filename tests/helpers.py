"""Shared test helpers: real redis-server processes, polling, API calls."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


WsgiAnswer = tuple[str, list[tuple[str, str]], bytes]


def call_wsgi(wsgi: Any, environ: dict[str, Any]) -> WsgiAnswer:
    """One request straight through a WSGI callable: its status line, headers in order, and body."""
    got: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], _exc: Any = None) -> None:
        got["status"], got["headers"] = status, list(response_headers)

    out = wsgi(environ, start_response)
    try:
        body = b"".join(out)
    finally:
        getattr(out, "close", lambda: None)()
    return got["status"], got["headers"], body


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


@contextmanager
def gunicorn_server(env: dict[str, str], port: int, *, ready: str = "/ready", timeout: float = 60.0,
                    log_path: Path | None = None) -> Iterator[str]:
    """The shipped gunicorn config serving ``app.wsgi`` on ``port``; yields its base URL.

    Why one helper: the config, the start in a session of its own and the stop of
    the whole group (master and workers) are what production runs; every test
    that needs a real gunicorn should start it the same way. It waits until
    ``ready`` answers 200 and fails at once, not at the deadline, if gunicorn exits.
    """
    log = log_path.open("wb") if log_path else None
    out, err = (log, subprocess.STDOUT) if log else (subprocess.DEVNULL, subprocess.DEVNULL)
    try:
        proc = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "app/gunicorn_conf.py"),
                                 "app.wsgi:application"], cwd=ROOT, env={**env, "FMS_PORT": str(port)},
                                stdout=out, stderr=err, start_new_session=True)
    finally:
        if log:
            log.close()
    base = f"http://127.0.0.1:{port}"

    def serving_or_gone() -> bool:
        return proc.poll() is not None or requests.get(f"{base}{ready}", timeout=1).status_code == 200

    try:
        wait_for(serving_or_gone, timeout, interval=0.1, what=f"gunicorn to answer {ready} (log: {log_path})")
        assert proc.poll() is None, f"gunicorn exited with {proc.returncode} (log: {log_path})"
        yield base
    finally:
        with suppress(ProcessLookupError):  # gone already: the assertion above says why
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


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


def heartbeats_on_metrics(client: Any) -> dict[tuple[str, str], float]:
    """``{(process, queue): last beat}`` as the API's ``/metrics`` exports them (a Flask test client)."""
    from prometheus_client.parser import text_string_to_metric_families

    from app.observability.heartbeats import METRIC

    resp = client.get("/metrics")
    assert resp.status_code == 200
    return {(s.labels["process"], s.labels["queue"]): s.value
            for fam in text_string_to_metric_families(resp.get_data(as_text=True)) if fam.name == METRIC
            for s in fam.samples}
