"""The process tree for real: gunicorn workers, multiprocess metrics, scripts/run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from app.process_tree import PROCESSES, enabled, resolve_count
from app.render.supervisor import reference_context, render
from tests.helpers import RedisServer, free_port, gunicorn_server, wait_for

ROOT = Path(__file__).resolve().parents[1]


def test_committed_supervisor_config_is_rendered_from_the_process_tree() -> None:
    committed = (ROOT / "supervisor" / "fms.conf").read_text()
    assert committed == render(reference_context()), (
        "supervisor/fms.conf is stale: run `.venv/bin/fms render supervisor --reference --out supervisor/fms.conf`")


def test_embedded_redis_only_without_redis_url() -> None:
    names_embedded = [p.name for p in enabled(embedded=True)]
    names_hosted = [p.name for p in enabled(embedded=False)]
    assert "redis" in names_embedded and "redis" not in names_hosted
    assert resolve_count("2*cores+1", 2) == 5 and resolve_count("cores", 3) == 3
    assert {p.name for p in PROCESSES} >= {"api", "worker-high", "worker-default", "worker-ai", "relay"}


def _processes_with(marker: str) -> list[int]:
    """PIDs whose environment mentions ``marker`` (our unique data dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_gunicorn_workers_share_metrics_in_multiprocess_mode(tmp_path: Path, redis_server: RedisServer) -> None:
    env = {**os.environ, "FMS_DATA_DIR": str(tmp_path), "REDIS_URL": redis_server.url,
           "FMS_WEB_WORKERS": "3", "FMS_SECRET_KEY": "k"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with gunicorn_server(env, free_port(), timeout=30) as base:
        sent = 0

        def one_more_request() -> bool:  # until a second worker has served some of them
            nonlocal sent
            assert requests.get(f"{base}/health", headers={"Connection": "close"}, timeout=5).status_code == 200
            sent += 1
            return sent >= 20 and len(list((tmp_path / "prometheus").glob("counter_*.db"))) >= 2

        wait_for(one_more_request, 60, interval=0.01, what="several workers to serve requests")
        text = requests.get(f"{base}/metrics", timeout=5).text
        line = next(x for x in text.splitlines()
                    if x.startswith('fms_http_requests_total{endpoint="/health",method="GET",status="200"}'))
        assert float(line.split()[-1]) == float(sent)  # summed across every worker's file


@pytest.mark.slow
def test_scripts_run_serves_ready_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "fms-data"
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "MONGODB_URI", "PROMETHEUS_MULTIPROC_DIR"}}
    env.update({"FMS_DATA_DIR": str(data), "FMS_PORT": str(port), "FMS_BOOTSTRAP_ADMIN": "admin:s3cret-pass"})
    proc = subprocess.Popen(["bash", str(ROOT / "scripts/run")], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{base}/ready", timeout=1).json()["status"] == "ok", 120,
                 interval=0.25, what="scripts/run to be ready")
        login = requests.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": "s3cret-pass"},
                              timeout=10)
        assert login.status_code == 200
        assert len(_processes_with(str(data))) >= 3  # supervisord, redis, gunicorn master + workers
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        proc.wait(60)
    wait_for(lambda: not _processes_with(str(data)), 30, what="every child to exit")


def test_gunicorn_master_keeps_no_application_modules(tmp_path: Path) -> None:
    """After a deploy, HUP must give workers the new release, not modules cached in the master."""
    code = ("import runpy, sys; runpy.run_path('app/gunicorn_conf.py'); "
            "print(sorted(m for m in sys.modules if m == 'app' or m.startswith('app.')))")
    env = {**os.environ, "FMS_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
