"""SQL-API fixtures: the broker on the session's real redis-server and a real worker on ``analytics``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest

from app.services import Services
from app.settings import Settings
from tests.conftest import make_settings
from tests.helpers import RedisServer

FAST = {"task_min_backoff": 100, "task_max_backoff": 400, "worker_timeout_ms": 200,
        "task_time_limits": "high=30,default=30,ai=30,analytics=60",
        "sql_timeout": 1.5, "sql_max_rows": 50, "sql_memory_limit": "256MB", "sql_threads": 1}


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    redis_server.client(0).flushall()
    return make_settings(tmp_path, redis_server.url, **FAST)


@pytest.fixture
def broker(settings: Settings, svc: Services) -> Iterator[Any]:
    from tasks.broker import configure
    from tasks.registry import load_actors

    broker = configure(settings, svc)
    load_actors()
    yield broker


@pytest.fixture
def worker(broker: Any) -> Iterator[dramatiq.Worker]:
    if not getattr(broker, "_booted", False):  # what the dramatiq CLI does once per process
        broker.emit_after("process_boot")
        broker._booted = True
    w = dramatiq.Worker(broker, queues={"analytics"}, worker_threads=1, worker_timeout=200)
    w.start()
    yield w
    w.stop(timeout=10_000)
