"""The broker and in-process worker that the task, export and SQL tests share.

Each test package keeps its own fixtures (its settings, its actors, its queues),
but they are built here so that the steps a real worker process takes (flush,
configure, boot once, start, drain on stop) are written once.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dramatiq

from app.services import Services
from app.settings import Settings
from tests.conftest import make_settings
from tests.helpers import RedisServer

# Short backoffs and timeouts for the packages whose worker runs only ``analytics`` (exports, SQL).
ANALYTICS_FAST: dict[str, Any] = {"task_min_backoff": 100, "task_max_backoff": 400, "worker_timeout_ms": 200,
                                  "task_time_limits": "high=30,default=30,ai=30,analytics=60"}


def fresh_settings(tmp_path: Path, redis_server: RedisServer, **overrides: Any) -> Settings:
    """Settings on the session's redis-server, emptied first: no test sees another's messages."""
    redis_server.client(0).flushall()
    return make_settings(tmp_path, redis_server.url, **overrides)


def configure_broker(settings: Settings, svc: Services, *actor_modules: str) -> Any:
    """The real Redis broker, with ``actor_modules`` imported after it so their actors land on it."""
    from tasks.broker import configure

    broker = configure(settings, svc)
    for name in actor_modules:
        importlib.import_module(name)
    return broker


@contextmanager
def running_worker(broker: Any, *, threads: int, stop_timeout_ms: int,
                   queues: set[str] | None = None) -> Iterator[dramatiq.Worker]:
    """A started ``dramatiq.Worker`` (all queues unless ``queues``), stopped on exit."""
    if not getattr(broker, "_booted", False):  # what the dramatiq CLI does once per process
        broker.emit_after("process_boot")
        broker._booted = True
    w = dramatiq.Worker(broker, queues=queues, worker_threads=threads, worker_timeout=200)
    w.start()
    try:
        yield w
    finally:
        w.stop(timeout=stop_timeout_ms)
