"""Task-test fixtures: the broker bound to the session's real redis-server, real workers.

``worker``: an in-process ``dramatiq.Worker`` on the real Redis broker.
``spawn_worker``: real ``dramatiq tasks.worker`` subprocesses with the same
settings (environment variables), for tests that need separate processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest

from app.services import Services
from app.settings import Settings
from tasks.routing import QUEUES
from tests.helpers import RedisServer
from tests.workers import configure_broker, fresh_settings, running_worker

FAST = {"task_min_backoff": 100, "task_max_backoff": 400, "task_time_limits": "high=30,default=30,ai=2,analytics=30",
        "worker_timeout_ms": 200, "relay_interval": 0.05, "webhook_allow_nets": "127.0.0.0/8",
        "webhook_timeout": 3.0, "webhook_disable_after": "0s", "webhook_disable_min_attempts": 3,
        "webhook_retry_schedule": "0,0.1,0.2,0.3,0.4,0.5", "breaker_fail_max": 50}
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    return fresh_settings(tmp_path, redis_server, **FAST)


@pytest.fixture
def broker(settings: Settings, svc: Services) -> Iterator[Any]:
    # The test actors (tests.tasks.actors) are declared on it too.
    yield configure_broker(settings, svc, "tasks.email", "tasks.system", "tasks.webhooks", "tests.tasks.actors")


@pytest.fixture
def worker(broker: Any) -> Iterator[dramatiq.Worker]:
    with running_worker(broker, threads=2, stop_timeout_ms=5000) as w:
        yield w


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FMS_", "REDIS_URL", "MONGODB"))}
    env.update({
        "REDIS_URL": settings.redis_url, "FMS_DATA_DIR": str(settings.data_dir), "FMS_SECRET_KEY": "test-secret",
        "FMS_ENV": "test", "FMS_SQLITE_SYNCHRONOUS": "NORMAL", "PROMETHEUS_MULTIPROC_DIR": str(settings.prometheus_dir),
        "FMS_TASK_MIN_BACKOFF_MS": str(settings.task_min_backoff),
        "FMS_TASK_MAX_BACKOFF_MS": str(settings.task_max_backoff),
        "FMS_TASK_TIME_LIMITS": settings.task_time_limits, "FMS_WORKER_TIMEOUT_MS": str(settings.worker_timeout_ms),
        "FMS_WEBHOOK_ALLOW_NETS": settings.webhook_allow_nets, "FMS_WEBHOOK_DISABLE_AFTER":
        str(settings.webhook_disable_after), "FMS_BREAKER_FAIL_MAX": str(settings.breaker_fail_max),
        "FMS_WEBHOOK_DISABLE_MIN_ATTEMPTS": str(settings.webhook_disable_min_attempts),
        "FMS_WEBHOOK_RETRY_SCHEDULE": settings.webhook_retry_schedule,
        "FMS_WEBHOOK_CONCURRENCY": str(settings.webhook_concurrency), "FMS_BREAKER_RESET": str(settings.breaker_reset),
        "FMS_WEBHOOK_TIMEOUT": str(settings.webhook_timeout), "FMS_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "dramatiq_restart_delay": "500",
    })
    env.update(extra)
    return env


class WorkerProcess:
    """A real ``dramatiq tasks.worker`` process tree; its output goes to a file."""

    def __init__(self, settings: Settings, log_path: Path, queues: tuple[str, ...], processes: int = 1,
                 threads: int = 2, **env: str) -> None:
        self.log_path = log_path
        argv = [str(VENV_BIN / "dramatiq"), "tasks.worker", "tests.tasks.actors", "--processes", str(processes),
                "--threads", str(threads), "--queues", *queues]
        self.log = log_path.open("ab")
        self.proc = subprocess.Popen(argv, env=worker_env(settings, **env), stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=Path(__file__).resolve().parents[2], start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9 the whole tree (main process and its worker children)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            # Only the main process: it forwards SIGTERM to its workers; a second SIGTERM
            # (as killpg would send) makes them exit at once instead of draining.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def spawn_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def spawn(queues: tuple[str, ...] = QUEUES, **kw: Any) -> WorkerProcess:  # every routed queue: /ready's
        wp = WorkerProcess(settings, tmp_path / f"worker{len(started)}.log", queues, **kw)
        started.append(wp)
        return wp

    yield spawn
    for wp in started:
        wp.stop()


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from tests.helpers import free_port

        self.messages: list[Any] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.messages.append(envelope)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture
def relay(broker: Any, svc: Services, settings: Settings) -> Any:
    from tasks.relay import Relay

    return Relay(svc.store, broker, batch=settings.relay_batch, interval=settings.relay_interval)
