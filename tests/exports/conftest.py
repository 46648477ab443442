"""Export fixtures: seeded submissions, the broker on the real redis-server, a real ``analytics`` worker."""

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
        }
STATUSES = ("submitted", "approved", "rejected")


@pytest.fixture
def link_ttl() -> int:
    return 3600


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer, link_ttl: int) -> Settings:
    redis_server.client(0).flushall()
    return make_settings(tmp_path, redis_server.url, export_link_ttl=link_ttl, **FAST)


def seed(svc: Services, form: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """``n`` submissions straight into the store (fast), one second apart, statuses and ages cycling."""
    rows = []
    for i in range(n):
        ts = f"2026-01-{1 + i // 86400:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000000Z"
        rec = {"id": f"S{i:07d}", "form_id": form["id"], "form_version": 1, "status": STATUSES[i % 3],
               "answers": {"name": f"n{i}", "email": f"u{i}@example.org", "age": i % 90, "tags": ["a"],
                           "phone": f"+1 555 {i:04d}"},
               "meta": {}, "rev": 1, "created_by": None, "created_at": ts, "updated_at": ts, "deleted_at": None}
        svc.store.insert_submission(rec, [], None)
        rows.append(rec)
    return rows


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
