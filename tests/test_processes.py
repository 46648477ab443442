"""The process tree for real: gunicorn workers, multiprocess metrics, scripts/run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from app.process_tree import PROCESSES, TIMERS, enabled, process, resolve_count
from app.render.supervisor import reference_context, render, timer_jobs
from app.render.systemd import HostConfig, on_calendar, render_all, render_service
from tasks.heartbeat import EXPECTED_QUEUES
from tasks.routing import QUEUES
from tasks.timers import Scheduler
from tests.helpers import RedisServer, free_port, gunicorn_server, wait_for

ROOT = Path(__file__).resolve().parents[1]


def _supervisor_env(conf: str) -> dict[str, dict[str, str]]:
    """program name -> its ``environment=`` as a dict."""
    programs = re.findall(r"^\[program:([^\]]+)\]$(.*?)(?=^\[|\Z)", conf, flags=re.M | re.S)
    return {name: dict(re.findall(r'(\w+)="([^"]*)"', re.search(r"^environment=(.*)$", body, re.M).group(1)))
            for name, body in programs}


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


def test_the_tree_serves_exactly_the_routed_queues() -> None:
    served = [q for p in PROCESSES if p.enabled for q in p.queues]
    assert sorted(served) == sorted(QUEUES), "every routed queue has exactly one worker process, no other queue"
    assert sorted(EXPECTED_QUEUES) == sorted(QUEUES)  # /ready waits for all of them


def test_every_process_is_named_in_its_environment_under_both_managers() -> None:
    """Workers log as their name and heartbeats carry it (FMS_PROCESS), however they were started."""
    units = render_all()
    supervised = _supervisor_env(render(reference_context()))
    for p in PROCESSES:
        if not p.embedded_only:
            assert f"Environment=FMS_PROCESS={p.name}" in units[f"fms-{p.name}.service"].splitlines(), p.name
        if p in enabled(embedded=False):
            assert supervised[p.name]["FMS_PROCESS"] == p.name


def test_every_timer_exists_in_every_renderer(tmp_path: Path) -> None:
    """systemd units, the relay's schedule under supervisord and Ansible's list all come from TIMERS."""
    names = [t.name for t in TIMERS]
    units = render_all()
    assert sorted(n for n in units if n.endswith(".timer")) == sorted(f"fms-{n}.timer" for n in names)
    for t in TIMERS:
        assert f"OnCalendar={on_calendar(t)}" in units[f"fms-{t.name}.timer"].splitlines()
        assert f"Environment=FMS_PROCESS={t.name}" in units[f"fms-{t.name}.service"].splitlines()
    # supervisord: the relay is told every timer and builds each job from the same row
    conf = render(reference_context())
    timers_env = _supervisor_env(conf)["relay"]["FMS_TIMERS"]
    assert timers_env.split(",") == names
    assert [k for k, v in _supervisor_env(conf).items() if "FMS_TIMERS" in v] == ["relay"]
    scheduler = Scheduler.from_names(timers_env, tmp_path)
    assert scheduler is not None and [j.timer.name for j in scheduler.jobs] == names
    assert [j.timer.name for j in scheduler.due()] == names  # never ran: all of them at once
    for job in timer_jobs(reference_context()):
        assert f"{job.timer.name}, {job.timer.schedule()}: {' '.join(job.argv)}" in conf
        assert job.env["FMS_PROCESS"] == job.timer.name
    # Ansible enables the timer units it finds among the rendered ones, and names none itself
    role = ROOT / "ansible" / "roles" / "fms_systemd"
    assert 'patterns: "fms-*.timer"' in (role / "tasks" / "main.yml").read_text()
    for path in [*role.rglob("*.yml"), *(ROOT / "ansible" / "roles" / "fms_backup").rglob("*")]:
        if path.is_file():
            assert not any(f"fms-{n}.timer" in path.read_text() for n in names), f"{path} lists timers"


def test_a_pre_start_step_runs_before_the_process_under_both_managers() -> None:
    """The hook for migrations before the API starts: ExecStartPre= under systemd, a shell under supervisord."""
    api = replace(process("api"), pre_start=(("{venv}/fms", "migrate"),))
    unit = render_service(api, HostConfig()).splitlines()
    pre = unit.index("ExecStartPre=/opt/fms/current/.venv/bin/fms migrate")
    assert pre < next(i for i, line in enumerate(unit) if line.startswith("ExecStart="))
    program = render(reference_context(), (api,))
    assert ("command=/bin/sh -c '/opt/fms/current/.venv/bin/python -m app.observability.multiproc"
            " && /opt/fms/current/.venv/bin/fms migrate && exec /opt/fms/current/.venv/bin/gunicorn"
            " -c /opt/fms/current/app/gunicorn_conf.py app.wsgi:application'") in program.splitlines()


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
        # supervisord has no timers: the relay ran every declared one on its first loop, backup included
        wait_for(lambda: all((data / "timers" / t.name).exists() for t in TIMERS), 60, interval=0.25,
                 what="the relay to run the timers")
        wait_for(lambda: list((data / "backups").glob("20*/fms.sqlite3")), 60, interval=0.25, what="a backup")
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        proc.wait(60)
    wait_for(lambda: not _processes_with(str(data)), 30, what="every child to exit")


def test_gunicorn_master_keeps_no_application_modules(tmp_path: Path) -> None:
    """After a deploy, HUP must give workers the new release, not modules cached in the master."""
    code = ("import runpy, sys; conf = runpy.run_path('app/gunicorn_conf.py'); "
            "print(sorted(m for m in sys.modules if m == 'app' or m.startswith('app.'))); print(conf['threads'])")
    env = {**os.environ, "FMS_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", str(process("api").threads)]  # threads: the tree's api row
