"""Shared pieces for the benchmark scripts: child processes that always die, wrk, host facts.

Why a module of its own: every benchmark starts real servers (redis-server,
gunicorn) and must leave none behind, even on Ctrl-C; and every benchmark
should describe the machine it ran on the same way so figures can be compared.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}: {last!r}")


class Processes:
    """Children started in their own process groups, stopped together on exit.

    Each child gets a new session so a terminal Ctrl-C reaches only us; we then
    stop every group we started: SIGINT (gunicorn's quick shutdown; redis saves
    nothing because ``--save ""``), then SIGKILL for whatever is still alive.
    """

    def __init__(self) -> None:
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], log_path: Path, env: dict[str, str] | None = None,
              cwd: Path = ROOT) -> subprocess.Popen[bytes]:
        log = log_path.open("ab")
        try:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                    start_new_session=True, preexec_fn=_die_with_parent)
        finally:
            log.close()
        self._procs.append((name, proc))
        return proc

    def check_alive(self) -> None:
        for name, proc in self._procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited early with status {proc.returncode}")

    def stop_all(self, grace: float = 10.0) -> None:
        for _, proc in reversed(self._procs):
            _signal_group(proc, signal.SIGINT)
        deadline = time.monotonic() + grace
        for _, proc in reversed(self._procs):
            with suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            _signal_group(proc, signal.SIGKILL)  # also reaps stray workers left in the group
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                print(f"warning: pid {proc.pid} did not exit", file=sys.stderr)
        self._procs.clear()


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the benchmark itself is killed (-9), Linux only."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


@contextmanager
def managed_processes() -> Iterator[Processes]:
    """Yield a :class:`Processes`; stop them all on exit, Ctrl-C or SIGTERM included."""
    procs = Processes()

    def on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield procs
    finally:
        # A second Ctrl-C while we clean up must not leave servers behind.
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            procs.stop_all()
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, previous)


def start_redis(procs: Processes, directory: Path) -> str:
    """A real redis-server on a free loopback port, persistence off; returns its URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(directory)]
    procs.start("redis-server", args, directory / "redis.log")

    def pong() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    wait_for(lambda: (procs.check_alive(), pong())[1], 10, "redis-server to answer PING")
    return f"redis://127.0.0.1:{port}/0"


def http_json(method: str, url: str, body: Any = None, token: str | None = None,
              timeout: float = 10.0) -> tuple[int, Any]:
    """One HTTP call with the standard library (no extra client dependency)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode(errors="replace")


def wait_http_ok(url: str, procs: Processes, timeout: float, what: str) -> None:
    """Poll ``url`` until it answers 200, failing fast if a child died."""
    def ok() -> bool:
        procs.check_alive()
        return http_json("GET", url, timeout=2)[0] == 200
    wait_for(ok, timeout, what, interval=0.1)


def process_cpu_seconds(pids: list[int]) -> float:
    """CPU (user + system) used so far by ``pids`` and their children (gunicorn master + workers).

    A worker that exited (recycled, timed out) is counted through its parent's
    cutime/cstime, so a restart mid-run does not make the figure go backwards.
    On a shared machine req/s moves with the neighbours' load; CPU per request
    moves much less, so the report carries both.
    """
    wanted = set(pids)
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid in wanted:  # utime, stime, cutime, cstime (stat fields 14-17)
            ticks += sum(int(x) for x in fields[11:15])
        elif ppid in wanted:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- wrk ---------------------------------------------------------------------------------------------

# Appended to every scenario script: wrk calls done() once with the merged statistics,
# which is more robust than scraping its human-readable report.
WRK_DONE = r'''
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"duration_us":%d,"requests":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeout_errors":%d,"non_2xx_3xx":%d,"lat_mean_us":%.1f,"lat_max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
'''


def lua_quote(text: str) -> str:
    """A Lua long-bracket string literal that cannot be closed by ``text``."""
    level = 1  # never "[[": after an indexing "[" it would open a long string itself
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def wrk_script(method: str, headers: dict[str, str], body: str | None) -> str:
    lines = [f"wrk.method = {lua_quote(method)}"]
    lines += [f"wrk.headers[ {lua_quote(k)} ] = {lua_quote(v)}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"wrk.body = {lua_quote(body)}")
    return "\n".join(lines) + "\n" + WRK_DONE


@dataclass
class WrkResult:
    """One wrk run, reduced to what the report needs (latencies in milliseconds)."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: dict[str, int]
    bytes_read: int
    server_cpu_ms_per_request: float | None = None  # filled in by the caller, which knows the server

    @property
    def errors_total(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"errors_total": self.errors_total}


def parse_wrk(output: str) -> WrkResult:
    match = re.search(r"^WRKJSON (\{.*\})$", output, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk printed no summary; output was:\n{output}")
    raw = json.loads(match.group(1))
    duration = raw["duration_us"] / 1e6
    return WrkResult(
        requests=raw["requests"], duration_s=round(duration, 3),
        rps=round(raw["requests"] / duration, 1) if duration else 0.0,
        p50_ms=raw["p50_us"] / 1000, p90_ms=raw["p90_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
        mean_ms=round(raw["lat_mean_us"] / 1000, 3), max_ms=raw["lat_max_us"] / 1000,
        non_2xx=raw["non_2xx_3xx"],
        socket_errors={k: raw[f"{k}_errors"] for k in ("connect", "read", "write", "timeout")},
        bytes_read=raw["bytes"],
    )


def run_wrk(url: str, script: str, duration: float, connections: int, threads: int,
            timeout_s: float = 5.0) -> tuple[WrkResult, str]:
    """Run wrk once with ``--latency``; returns the parsed result and wrk's own report."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk; it is in scripts/apt-packages.txt)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        path = f.name
    try:
        args = [wrk, "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s",
                "--timeout", f"{timeout_s:g}s", "-s", path, url]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=duration + 60, check=False,
                              preexec_fn=_die_with_parent)
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return parse_wrk(proc.stdout), proc.stdout


# --- host facts ----------------------------------------------------------------------------------------

def _first_line(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unavailable"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def host_facts() -> dict[str, Any]:
    """What a reader needs to compare two runs: cores, CPU, memory, versions."""
    import sqlite3

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        usable = os.cpu_count() or 1
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "hostname": socket.gethostname(),
        "cores": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "gunicorn": _version("gunicorn"),
        "flask": _version("flask"),
        "redis_py": _version("redis"),
        "sqlite": sqlite3.sqlite_version,
        "redis_server": _first_line([shutil.which("redis-server") or "redis-server", "--version"]),
        "wrk": _first_line([shutil.which("wrk") or "wrk", "-v"]),
    }
