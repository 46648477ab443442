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

from app.observability.multiproc import base, clean_base, reset_own, scrape_dirs
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
        pin = f"/usr/bin/env PROMETHEUS_MULTIPROC_DIR={own} "  # on the command line: fms.env cannot override it
        assert not any(line.startswith("Environment=PROMETHEUS_MULTIPROC_DIR") for line in lines), p.name
        pre = [line.removeprefix("ExecStartPre=") for line in lines if line.startswith("ExecStartPre=")]
        assert pre[0] == pin + reset, p.name  # before migrations, before anything forks
        [start] = [line.removeprefix("ExecStart=") for line in lines if line.startswith("ExecStart=")]
        assert start.startswith(pin) and start.removeprefix(pin).split()[0] == p.command[0].format(
            venv="/opt/fms/current/.venv/bin"), p.name
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


def _dead_pid() -> int:
    """The pid of a process that has exited (reaped, so the pid is free)."""
    proc = subprocess.run(["/bin/sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


def _start_step_env(data: Path, **env: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("FMS_", "PROMETHEUS", "REDIS_URL", "MONGODB"))}
    return {**keep, "FMS_DATA_DIR": str(data), "FMS_ENV": "test", "FMS_SECRET_KEY": "k", **env}


def test_the_start_step_removes_an_upgraded_hosts_leftovers_and_nothing_live(tmp_path: Path) -> None:
    """Before one directory per process every unit wrote the base itself; those files (a stale
    ``mostrecent`` gauge among them) and a systemd host's unused ``prometheus/api`` must not be merged forever."""
    data, dead = tmp_path / "data", _dead_pid()
    root, api, relay = base(data), base(data) / "api", base(data) / "relay"
    for d in (api, relay):
        d.mkdir(parents=True)
    planted = {
        "old": [root / f"gauge_mostrecent_{dead}.db", root / f"counter_{dead}.db"],
        "live": [root / f"counter_{os.getpid()}.db"],  # a worker started by hand writes the base: running
        "other": [root / "notes.db", relay / f"counter_{dead}.db", api / "README"],
        "api": [api / f"counter_{dead}.db", api / f"histogram_{os.getpid()}.db"],
    }
    for path in (p for paths in planted.values() for p in paths):
        path.write_bytes(b"x")
    runtime = tmp_path / "run-fms-api"  # the api's own under systemd: /run/fms-api
    env = _start_step_env(data, FMS_PROCESS="api", PROMETHEUS_MULTIPROC_DIR=str(runtime))
    step = subprocess.run([str(VENV_BIN / "python"), "-m", "app.observability.multiproc"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert step.returncode == 0, step.stderr
    assert not any(p.exists() for p in planted["old"] + planted["api"]), "gone: nobody writes them"
    assert all(p.exists() for p in planted["live"] + planted["other"]), "a running process's, another's, not ours"
    assert api.is_dir(), "left where something else is in it"
    (api / "README").unlink()
    (api / f"counter_{dead}.db").write_bytes(b"x")
    assert clean_base({"FMS_PROCESS": "api", "PROMETHEUS_MULTIPROC_DIR": str(runtime)}, data) == 1
    assert not api.exists() and scrape_dirs(root) == [root, relay]
    # where it is the process's own directory, the start step empties it and keeps it
    relay_env = {"FMS_PROCESS": "relay", "PROMETHEUS_MULTIPROC_DIR": str(relay)}
    assert clean_base(relay_env, data) == 0 and (relay / f"counter_{dead}.db").exists()


def _unit_env(lines: list[str], env_file: dict[str, str]) -> dict[str, str]:
    """A unit's environment as systemd composes it: its Environment= lines, then EnvironmentFile=,
    whose assignments override every Environment= (systemd.exec(5)), whatever the order of the lines."""
    env: dict[str, str] = {}
    for line in lines:
        if line.startswith("Environment=") and "%d/" not in line:
            env.update(part.split("=", 1) for part in shlex.split(line.removeprefix("Environment=")))
    return {**env, **env_file}


def test_a_multiproc_dir_in_fms_env_does_not_reach_the_units(tmp_path: Path) -> None:
    """An operator's PROMETHEUS_MULTIPROC_DIR in /etc/fms/fms.env (EnvironmentFile=) would give every
    unit one directory, which the start step must leave alone: the old pile-up. The units set it on
    their command lines, so their reset and the process itself still agree on the unit's own."""
    data, shared = tmp_path / "data", tmp_path / "shared"
    mine = base(data) / "worker-high"
    for d in (mine, shared):
        d.mkdir(parents=True)
        (d / "counter_1.db").write_bytes(b"x")
    unit = render_all()["fms-worker-high.service"]
    # the unit as rendered for a host whose data directory and release are here
    unit = unit.replace("/var/lib/fms", str(data)).replace("/opt/fms/current/.venv/bin", str(VENV_BIN))
    lines = unit.splitlines()
    assert "EnvironmentFile=/etc/fms/fms.env" in lines
    env = {**_start_step_env(data), **_unit_env(lines, {"PROMETHEUS_MULTIPROC_DIR": str(shared), "FMS_ENV": "test"})}
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(shared)  # what Environment= alone would have lost to
    reset = next(line.removeprefix("ExecStartPre=") for line in lines if line.startswith("ExecStartPre="))
    step = subprocess.run(shlex.split(reset), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert step.returncode == 0, step.stderr
    assert mine.is_dir() and list(mine.iterdir()) == [], "its own directory emptied"
    assert (shared / "counter_1.db").exists(), "the shared one left alone"
    start = shlex.split(next(line.removeprefix("ExecStart=") for line in lines if line.startswith("ExecStart=")))
    wrapper = start[:start.index(str(VENV_BIN / "dramatiq"))]  # the process itself: its environment instead
    seen = subprocess.run([*wrapper, str(VENV_BIN / "python"), "-c", "import os; print(os.environ['"
                           "PROMETHEUS_MULTIPROC_DIR'])"], env=env, capture_output=True, text=True, check=True)
    assert seen.stdout.strip() == str(mine)


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
    # from worker-high's directory and worker-default's
    assert depth == {*process("worker-high").queues, *process("worker-default").queues} >= {"high", "default"}
    assert re.search(r'^fms_http_requests_total\{endpoint="/health",method="GET",status="200"\} [1-9]', text, re.M)
    types = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE "))
    assert [name for name, n in types.items() if n > 1] == []  # one family per name, or Prometheus drops all
    samples = Counter(line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#"))
    assert [s for s, n in samples.items() if n > 1] == []
