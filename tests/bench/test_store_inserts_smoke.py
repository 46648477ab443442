"""Smoke test for scripts/bench/store_inserts.py: a short run end to end writes its JSON.

Why: the benchmark forks processes that write one SQLite file; a store change that
broke ``insert_submission`` from a forked process, or a JSON field the docs quote,
would otherwise only show when someone runs it by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_run_stores_rows_in_both_modes_and_writes_the_ratio(tmp_path: Path) -> None:
    out = tmp_path / "si.json"
    done = subprocess.run([sys.executable, "scripts/bench/store_inserts.py", "--procs", "2", "--threads", "2",
                           "--seconds", "0.5", "--rounds", "2", "--dir", str(tmp_path), "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert len(result["rounds"]) == 2 and len(result["ratio_per_round"]) == 2
    for row in result["rounds"]:
        for mode in ("FULL", "OFF"):
            assert row[mode]["inserts"] > 0 and row[mode]["cpu_ms_per_insert"] > 0
    assert "durable / not durable" in done.stdout
