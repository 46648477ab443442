"""Smoke test for scripts/bench/api.py: a one-second run end to end, and Ctrl-C cleanup.

Why: the benchmark starts real redis-server and two gunicorns; a broken Lua
script, a 422ing benchmark body or a leaked process would otherwise only show
up when someone runs the full benchmark by hand.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench" / "api.py"
SCENARIOS = ("bare_post", "fms_post", "bare_get", "fms_get")

pytestmark = pytest.mark.slow


def bench_env(tmp_path: Path) -> dict[str, str]:
    # TMPDIR puts every file and process of the run under tmp_path, so leaks can be found.
    return os.environ | {"TMPDIR": str(tmp_path), "FMS_WEB_WORKERS": "1"}


def processes_mentioning(marker: str) -> list[int]:
    """Pids whose command line or environment mentions ``marker`` (our run's temp dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        for name in ("cmdline", "environ"):
            try:
                if marker.encode() in (entry / name).read_bytes():
                    found.append(int(entry.name))
                    break
            except OSError:
                continue
    return found


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_short_run_writes_complete_json(tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--duration", "1", "--warmup", "0", "--connections", "4",
         "--threads", "1", "--out", str(out), "--check-report-only"],
        cwd=ROOT, env=bench_env(tmp_path), capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert {"host", "config", "scenarios", "ratios", "goals", "checks"} <= doc.keys()
    assert doc["host"]["cores"] >= 1 and doc["host"]["gunicorn"] != "not installed"
    assert doc["config"]["gunicorn"]["worker_class"] == "gthread"
    for name in SCENARIOS:
        result = doc["scenarios"][name]
        assert result["rps"] > 0 and result["requests"] > 0, name
        assert 0 < result["p50_ms"] <= result["p99_ms"], name
        assert result["errors_total"] == 0, (name, result)
    ratios = doc["ratios"]
    assert ratios["ingest_vs_bare_post"] > 0 and ratios["cached_get_vs_bare_get"] > 0
    assert ratios["ingest_p99_vs_bare_post_p99"] > 0
    assert ratios["ingest_cpu_cost_ratio"] > 0 and ratios["cached_get_cpu_cost_ratio"] > 0
    assert len(ratios["ingest_per_round"]) == doc["config"]["rounds"] == 1
    assert isinstance(doc["goals"]["met"], bool) and doc["goals"]["ingest_p99_vs_bare_max"] == 2.0
    assert len(doc["load_average"]["start"]) == 3 and len(doc["load_average"]["per_slice"]["fms_post"]) == 1
    assert "x bare p99" in proc.stdout
    # Every submission wrk counted was stored (plus the one the set-up sends).
    assert doc["checks"]["fms_submissions_stored"] >= doc["scenarios"]["fms_post"]["requests"] + 1
    assert doc["checks"]["fms_log_error_lines"] == 0
    assert "ingest" in proc.stdout and "cached GET" in proc.stdout
    assert processes_mentioning(str(tmp_path)) == []


def _result(rps: float, p99: float) -> Any:
    from scripts.bench.common import WrkResult

    return WrkResult(requests=int(rps), duration_s=1.0, rps=rps, p50_ms=p99 / 4, p90_ms=p99 / 2, p99_ms=p99,
                     mean_ms=p99 / 4, max_ms=p99, non_2xx=0, socket_errors={"connect": 0}, bytes_read=1,
                     server_cpu_ms_per_request=1.0)


@pytest.mark.parametrize(("fms_post", "fms_p99", "fms_get", "met"), [
    (700, 19.0, 900, True),    # 70 % ingest, p99 1.9x, 90 % GET
    (500, 19.0, 900, False),   # ingest under 60 %
    (700, 21.0, 900, False),   # p99 over 2x the bare one
    (700, 19.0, 700, False),   # cached GET under 80 %
])
def test_check_exits_non_zero_when_a_goal_is_missed(fms_post: float, fms_p99: float, fms_get: float,
                                                     met: bool) -> None:
    sys.path.insert(0, str(ROOT))
    from scripts.bench import api

    results = {name: (r, "", [(r, "", 1.0)]) for name, r in {
        "bare_post": _result(1000, 10.0), "fms_post": _result(fms_post, fms_p99),
        "bare_get": _result(1000, 10.0), "fms_get": _result(fms_get, 10.0)}.items()}
    verdict = api.evaluate(results)
    assert verdict["goals"]["met"] is met
    assert api.exit_status(verdict, check=True) == (0 if met else 1)
    assert api.exit_status(verdict, check=False) == 0


def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--duration", "20", "--warmup", "0", "--connections", "4",
         "--threads", "1", "--out", str(tmp_path / "api.json")],
        cwd=ROOT, env=bench_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # A run started in the background by a non-interactive shell inherits SIGINT ignored (POSIX), and
        # Python then installs no KeyboardInterrupt handler: the bench would run to its end. Ctrl-C is what
        # is tested, so the bench gets the default disposition a terminal would give it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # Wait until the fms side is coming up: the bench itself, the bare master and worker,
        # then redis-server and the fms master (all carry tmp_path in their command line or env).
        assert wait_until(lambda: len(processes_mentioning(str(tmp_path))) >= 5, 60, "servers to start") is True
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)  # a wrk slice is waited out, then each group's grace
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert not (tmp_path / "api.json").exists()
    assert wait_until(lambda: processes_mentioning(str(tmp_path)) == [], 10, "no process left") is True
