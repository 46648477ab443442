"""SQL-API fixtures: the broker on the session's real redis-server and a real worker on ``analytics``."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings
from tests.analytics_worker import broker, worker  # noqa: F401 - the shared analytics worker
from tests.helpers import RedisServer
from tests.workers import ANALYTICS_FAST, fresh_settings

FAST = {**ANALYTICS_FAST,
        "sql_timeout": 1.5, "sql_max_rows": 50, "sql_memory_limit": "256MB", "sql_threads": 1}


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    return fresh_settings(tmp_path, redis_server, **FAST)
