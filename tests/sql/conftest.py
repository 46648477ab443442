"""SQL-API fixtures: the broker on the session's real redis-server and a real worker on ``analytics``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest

from app.services import Services
from app.settings import Settings
from tests.helpers import RedisServer
from tests.workers import ANALYTICS_FAST, configure_broker, fresh_settings, running_worker

FAST = {**ANALYTICS_FAST,
        "sql_timeout": 1.5, "sql_max_rows": 50, "sql_memory_limit": "256MB", "sql_threads": 1}


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    return fresh_settings(tmp_path, redis_server, **FAST)


@pytest.fixture
def broker(settings: Settings, svc: Services) -> Iterator[Any]:
    from tasks.registry import ACTOR_MODULES

    yield configure_broker(settings, svc, *ACTOR_MODULES)


@pytest.fixture
def worker(broker: Any) -> Iterator[dramatiq.Worker]:
    with running_worker(broker, queues={"analytics"}, threads=1, stop_timeout_ms=10_000) as w:
        yield w
