"""A small version of scripts/chaos/run.py: kill -9 workers, restart Redis, a Redis outage — nothing lost."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

CHAOS_DIR = Path(__file__).resolve().parents[2] / "scripts" / "chaos"


@pytest.mark.slow
def test_no_event_is_lost_under_worker_kills_and_redis_restarts(tmp_path: Path) -> None:
    sys.path.insert(0, str(CHAOS_DIR))
    from run import run

    result = run(n=40, outage=2.0, interval=0.05, workers=1, workdir=tmp_path / "chaos")
    assert result["accepted"] == 40 and result["refused"] == 0, "the API answers 201 through the Redis outage"
    assert result["lost"] == 0, result
    assert result["conflicting"] == 0 and result["invalid_signatures"] == 0, result
    assert [e.split(" ", 1)[1] for e in result["events"]] == [
        "kill -9 workers", "redis restarted", "redis stopped for 2.0s", "redis back"]
