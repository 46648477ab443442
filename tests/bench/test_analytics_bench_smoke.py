"""Smoke test for scripts/bench/analytics.py: a tiny run end to end.

Why: the benchmark seeds a store, exports it and times five ways of summarising
it, which must agree; a schema change in the store, the export or the engine
would otherwise only show up when someone runs the (long) benchmark by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench" / "analytics.py"

pytestmark = pytest.mark.slow


def test_analytics_bench_runs_and_every_way_agrees(tmp_path: Path) -> None:
    out = tmp_path / "analytics.json"
    env = os.environ | {"TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--sizes", "2k", "--days", "4", "--repeat", "1",
                           "--json", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    run = report["sizes"]["2k"]
    assert run["dataset"]["rows"] == 2000 and run["dataset"]["days"] == 4
    summaries = run["summaries"]
    for way in ("fms_cold", "fms_cached", "duckdb_raw", "duckdb_typed", "sqlite_group_by", "python_naive"):
        assert summaries[way]["runs"] >= 1 and summaries[way]["median_s"] > 0, way
    assert summaries["agree"]["total"] == 2000  # the script fails if any way disagrees
    assert sum(summaries["agree"]["status"].values()) == 2000
    assert summaries["fms_cached"]["median_s"] < summaries["fms_cold"]["median_s"]
    assert set(run["goals"]) >= {"fms_cold_s", "fms_cached_s", "fms_cold_vs_duckdb"}
    assert "fms_cold" in proc.stdout and not list(tmp_path.glob("fms-bench-analytics-*"))  # temp dir removed
