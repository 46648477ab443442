"""Prometheus multiprocess files, one directory per process of the tree (app.observability.multiproc).

The real-process test runs the programs of a rendered supervisord configuration (their start steps
and command, in their environment): a restarted worker empties its own directory and nobody else's,
a cleanly stopped one drops its live gauges, and the API's ``/metrics`` merges every directory.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import requests

from app.observability.multiproc import base, reset_own, scrape_dirs
from app.process_tree import METRICS_RESET, PROCESSES, TIMERS, process, start_steps
from app.render.supervisor import Context, TimerJob, reference_context, render
from app.render.systemd import render_all
from tasks.timers import Scheduler
from tests.helpers import ROOT, VENV_BIN, RedisServer, free_port, wait_for

TREE = tuple(p for p in PROCESSES if p.metrics and not p.embedded_only)


def _programs(conf: str) -> dict[str, tuple[str, dict[str, str]]]:
    """program name -> (its ``command=``, its ``environment=``) in a supervisord configuration."""
    out = {}
    for name, body in re.findall(r"^\[program:([^\]]+)\]$(.*?)(?=^\[|\Z)", conf, flags=re.M | re.S):
        command = re.search(r"^command=(.*)$", body, re.M)
        env = re.search(r"^environment=(.*)$", body, re.M)
        assert command and env, name
        out[name] = (command.group(1), dict(re.findall(r'(\w+)="([^"]*)"', env.group(1))))
    return out


def test_every_process_has_its_own_directory_under_both_managers() -> None:
    units = render_all()
    programs = _programs(render(reference_context()))
    reset = " ".join(METRICS_RESET).format(venv="/opt/fms/current/.venv/bin")
    for p in TREE:
        lines = units[f"fms-{p.name}.service"].splitlines()
        own = "/run/fms-api" if p.name == "api" else f"/var/lib/fms/prometheus/{p.name}"  # systemd empties /run
        assert f"Environment=PROMETHEUS_MULTIPROC_DIR={own}" in lines, p.name
        pre = [line.removeprefix("ExecStartPre=") for line in lines if line.startswith("ExecStartPre=")]
        assert pre[0] == reset, p.name  # before migrations, before anything forks
        command, env = programs[p.name]
        assert env["PROMETHEUS_MULTIPROC_DIR"] == f"/var/lib/fms/prometheus/{p.name}"
        shell, flag, script = shlex.split(command)
        assert (shell, flag) == ("/bin/sh", "-c") and script.startswith(f"{reset} && "), p.name
    dirs = [programs[p.name][1]["PROMETHEUS_MULTIPROC_DIR"] for p in TREE]
    assert len(set(dirs)) == len(dirs) >= 5
    embedder = units["fms-embedder.service"]  # writes no metrics: neither a directory nor a reset
    assert "PROMETHEUS_MULTIPROC_DIR" not in embedder and "multiproc" not in embedder
    assert start_steps(process("embedder")) == ()


def test_the_reset_empties_only_the_directory_of_its_own_process(tmp_path: Path) -> None:
    mine, other = base(tmp_path) / "worker-high", base(tmp_path) / "relay"
    for d in (mine, other):
        d.mkdir(parents=True)
        (d / "counter_123.db").write_bytes(b"x")
    env = {"FMS_PROCESS": "worker-high", "PROMETHEUS_MULTIPROC_DIR": str(mine)}
    assert reset_own(env, tmp_path) == (mine, 1)
    assert list(mine.iterdir()) == [] and (other / "counter_123.db").exists()
    # an operator's directory shared by several units, the api's /run/fms-api: left as they are
    shared = {"FMS_PROCESS": "worker-high", "PROMETHEUS_MULTIPROC_DIR": str(other)}
    assert reset_own(shared, tmp_path) == (None, 0) and (other / "counter_123.db").exists()
    assert reset_own({"FMS_PROCESS": "relay"}, tmp_path) == (None, 0)
    assert scrape_dirs(base(tmp_path)) == [base(tmp_path), other, mine]
    assert scrape_dirs(tmp_path / "none") == []


def test_a_timer_job_of_the_relay_writes_no_files_into_the_relays_directory(tmp_path: Path) -> None:
    """Under supervisord the relay runs the timers; their files would stay in its directory until it
    restarts (an hourly purge: 24 a day). As under systemd, a job gets no multiprocess directory."""
    out = tmp_path / "env.txt"
    job = TimerJob(TIMERS[0], ["/bin/sh", "-c", f"env > {out}"], {"FMS_PROCESS": TIMERS[0].name})
    relay_env = {"PATH": "/usr/bin:/bin", "FMS_PROCESS": "relay",
                 "PROMETHEUS_MULTIPROC_DIR": str(base(tmp_path) / "relay"), "FMS_TIMERS": TIMERS[0].name}
    assert Scheduler([job], tmp_path / "timers", relay_env).run_due() == [TIMERS[0].name]
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert env["FMS_PROCESS"] == TIMERS[0].name and "PROMETHEUS_MULTIPROC_DIR" not in env


@contextmanager
def program(conf: str, name: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One program of ``conf`` as supervisord starts it: its command line, in its environment."""
    command, program_env = _programs(conf)[name]
    with log.open("ab") as out:
        proc = subprocess.Popen(shlex.split(command), cwd=ROOT, env={**env, **program_env}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """TERM to the main process only (supervisord's ``stopasgroup=false``): it drains its children."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _pids(directory: Path, kind: str = "") -> set[int]:
    return {int(f.stem.rsplit("_", 1)[1]) for f in directory.glob(f"{kind}*.db")}


@pytest.mark.slow
def test_a_restart_empties_its_own_directory_and_metrics_merges_every_one(
        tmp_path: Path, redis_server: RedisServer) -> None:
    redis_server.client(0).flushall()
    data = tmp_path / "data"
    ctx = Context(root=ROOT, venv=VENV_BIN, data_dir=data, redis_port=0, embedded_redis=False, cores=1)
    conf = render(ctx, (process("api"), process("worker-high"), process("worker-default")))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FMS_", "PROMETHEUS", "REDIS_URL", "MONGODB"))}
    env.update({"FMS_DATA_DIR": str(data), "REDIS_URL": redis_server.url, "FMS_SECRET_KEY": "k", "FMS_ENV": "test",
                "FMS_PORT": str(port), "FMS_WEB_WORKERS": "1"})
    high, default = data / "prometheus" / "worker-high", data / "prometheus" / "worker-default"
    log = tmp_path / "tree.log"

    def beating(directory: Path, old: frozenset[int] = frozenset()) -> set[int]:
        return _pids(directory, "gauge_mostrecent") - old  # the heartbeat's queue depth: a child is up

    with program(conf, "worker-high", env, log):
        with program(conf, "worker-default", env, log) as first:
            wait_for(lambda: beating(high) and beating(default), 60, interval=0.1, what=f"both workers ({log})")
            [child] = _pids(default, "gauge_mostrecent")
            (default / f"gauge_livesum_{child}.db").touch()  # a live gauge of that child (none is declared yet)
        assert first.returncode == 0
        assert not (default / f"gauge_livesum_{child}.db").exists(), "a clean stop drops the child's live gauges"
        assert _pids(default) == {child}, "its counters stay until the next start"
        kept = sorted(f.name for f in high.iterdir())
        with program(conf, "worker-default", env, log):
            new = wait_for(lambda: beating(default, frozenset({child})), 60, interval=0.1,
                           what=f"the restarted worker ({log})")
            assert child not in _pids(default) and _pids(default) == new, "the restart emptied its own directory"
            assert sorted(f.name for f in high.iterdir()) == kept, "and nobody else's"

            with program(conf, "api", env, log):
                wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok, 60, interval=0.1,
                         what=f"the api ({log})")
                text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert list((data / "prometheus" / "api").glob("counter_*.db")), "the api writes its own directory"
    depth = {m.group(1) for m in re.finditer(r'^fms_queue_depth\{queue="(\w+)"\}', text, re.M)}
    assert depth == {"high", "default", "analytics"}  # from worker-high's directory and worker-default's
    assert re.search(r'^fms_http_requests_total\{endpoint="/health",method="GET",status="200"\} [1-9]', text, re.M)
    types = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE "))
    assert [name for name, n in types.items() if n > 1] == []  # one family per name, or Prometheus drops all
    samples = Counter(line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#"))
    assert [s for s, n in samples.items() if n > 1] == []
