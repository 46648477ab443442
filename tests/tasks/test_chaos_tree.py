"""Chaos through the real tree (scripts/chaos/tree.py): scripts/run, gunicorn over HTTP, SIGKILLs, a receiver outage.

Runs in the normal suite (CI runs it whole): a few minutes at most on two
loaded cores. The receiver answers 503 for longer than the first five steps
of the compressed retry schedule the tree is given through configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

CHAOS_DIR = Path(__file__).resolve().parents[2] / "scripts" / "chaos"


@pytest.mark.slow
def test_real_tree_loses_nothing_under_sigkills_and_a_receiver_outage(tmp_path: Path) -> None:
    sys.path.insert(0, str(CHAOS_DIR))
    from tree import run

    result = run(n=120, outage=20.0, interval=0.03, workdir=tmp_path / "chaos-tree")
    print(result)  # the figures, for docs/benchmarks.md
    assert result["accepted"] == result["submitted"] == 120, result
    assert result["lost"] == 0 and result["stored_twice"] == 0 and result["stored"] == 120, result
    assert result["undelivered"] == 0 and result["delivered"] == 120, result
    assert result["conflicting"] == 0 and result["invalid_signatures"] == 0, result
    assert result["answered_503"] > 0, "the outage really refused deliveries"
    assert result["delivery_states"] == {"succeeded": 120}, "the log agrees: nothing left retrying or failed"
    assert result["max_concurrent_requests"] <= 2, "FMS_WEBHOOK_CONCURRENCY bounds the recovery"
    kills = [e.split("s ", 1)[1] for e in result["events"] if "SIGKILL" in e]
    assert len(kills) == 3 and all(not k.startswith("SIGKILL 0 ") for k in kills), result["events"]
