"""Smoke test for scripts/bench/export.py: a tiny run end to end, every row counted, nothing left behind.

Why: the export benchmark seeds a store, exports it in child processes and
reads the files back; a broken child, an API path that 4xxs or a row-count
mismatch would otherwise only show when someone runs it at 1M by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench" / "export.py"

pytestmark = pytest.mark.slow


def test_a_tiny_run_exports_every_row_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "export.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--sizes", "1500", "--days", "3", "--json", str(out),
         "--workdir", str(tmp_path / "work")],
        cwd=ROOT, env=os.environ | {"TMPDIR": str(tmp_path)}, capture_output=True, text=True, timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    runs = doc["sizes"]["1500"]["runs"]
    assert {(r["format"], r["mode"]) for r in runs} == {("csv", "etl"), ("csv", "api"), ("parquet", "etl"),
                                                        ("parquet", "api")}
    for r in runs:
        assert r["rows"] == 1500 and r["bytes"] > 0 and r["wall_s"] > 0, r
        assert 0 < r["rss_before_mb"] <= r["rss_peak_mb"], r
    assert doc["goal_check"]["rss_peak_mb"]["got"] == max(r["rss_peak_mb"] for r in runs)
    assert "csv" in proc.stdout and "peak" in proc.stdout
    assert not list((tmp_path / "work").glob("*.csv"))  # exported files are removed after counting
