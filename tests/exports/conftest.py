"""Export fixtures: seeded submissions, the broker on the real redis-server, a real ``analytics`` worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.services import Services
from app.settings import Settings
from tests.analytics_worker import broker, worker  # noqa: F401 - the shared analytics worker
from tests.helpers import RedisServer
from tests.workers import ANALYTICS_FAST, fresh_settings

STATUSES = ("submitted", "approved", "rejected")


@pytest.fixture
def link_ttl() -> int:
    return 3600


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer, link_ttl: int) -> Settings:
    return fresh_settings(tmp_path, redis_server, export_link_ttl=link_ttl, **ANALYTICS_FAST)


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
