"""Smoke test for scripts/bench/memory.py on small process trees (the full tree run is the benchmark itself).

Why: the benchmark's figures come from summing ``smaps_rollup`` over a
program's process tree and from supervisorctl's pids; a broken parser or a
tree walk that misses children would silently under-report a program.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.bench.memory import measure_tree, parse_status, smaps_rollup, verdicts
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench" / "memory.py"


@pytest.fixture
def parent_with_child() -> Iterator[subprocess.Popen[bytes]]:
    """A python process holding ~40 MB with one child (sleep): a program with its children."""
    code = ("import subprocess, sys, time\nblob = b'x' * (40 * 1024 * 1024)\n"
            "child = subprocess.Popen(['sleep', '60'])\nprint('ready', flush=True)\ntime.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    yield proc
    for pid in reversed([p["pid"] for p in measure_tree(proc.pid).per_process]):
        os.kill(pid, 9)
    proc.wait(10)


def test_a_program_is_measured_with_its_children(parent_with_child: subprocess.Popen[bytes]) -> None:
    mem = wait_for(lambda: (m := measure_tree(parent_with_child.pid)).processes == 2 and m, 10, what="the child")
    assert mem.per_process[0]["pid"] == parent_with_child.pid
    assert "sleep" in mem.per_process[1]["cmd"]
    assert mem.pss_mb >= 40  # the blob is private, written memory
    assert mem.pss_mb == pytest.approx(sum(p["pss_mb"] for p in mem.per_process), abs=0.5)
    assert mem.largest_pid == parent_with_child.pid
    assert smaps_rollup(2**22 + 12345) == {}  # a pid that cannot exist: gone, not an error


def test_supervisorctl_status_and_verdicts() -> None:
    status = ("api                              RUNNING   pid 4711, uptime 0:00:09\n"
              "redis                            RUNNING   pid 42, uptime 0:00:10\n"
              "worker-ai                        STARTING  \n"
              "embedder                         FATAL     Exited too quickly (process log may have details)\n")
    assert parse_status(status) == {"api": 4711, "redis": 42}


def test_cli_prints_a_table_writes_json_and_check_fails_on_a_miss(tmp_path: Path,
                                                                   parent_with_child: subprocess.Popen[bytes]) -> None:
    out = tmp_path / "memory.json"
    args = [sys.executable, str(SCRIPT), "--pid", f"small={parent_with_child.pid}", "--out", str(out)]
    ok = subprocess.run([*args, "--check"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "| small |" in ok.stdout and "| yes |" in ok.stdout
    doc = json.loads(out.read_text())
    assert doc["met"] is True and doc["programs"]["small"]["goal_mb"] == 1024
    assert doc["phases"]["now"]["small"]["processes"] == 2
    missed = subprocess.run([*args, "--check", "--goal", "small=10"], capture_output=True, text=True, timeout=60,
                            cwd=ROOT)
    assert missed.returncode == 1 and "memory goals missed: small" in missed.stderr
    assert json.loads(out.read_text())["programs"]["small"]["met"] is False


def test_a_unit_limit_below_the_goal_is_a_miss_too() -> None:
    from scripts.bench.memory import ProgramMemory

    mem = ProgramMemory(pss_mb=300.0, rss_mb=310.0, uss_mb=290.0, processes=1, largest_pid=1, largest_pss_mb=300.0,
                        largest_cmd="x")
    result = verdicts({"idle": {"relay": mem}}, {"relay": 320.0}, {"relay": 256.0})
    assert result["relay"] == {"worst_pss_mb": 320.0, "goal_mb": 1024.0, "unit_memory_max_mb": 256.0, "met": False}
