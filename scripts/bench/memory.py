"""Memory of every program of the real process tree: PSS at idle and after a scripted use (seed 000 NFR-PERF-004).

Starts the tree the way ``scripts/run`` does once its installs are done
(``fms render supervisor``, ``fms bootstrap``, supervisord) in a temporary
data dir, or attaches to a running one (``--attach DATA_DIR``, which has the
``supervisord.conf`` that ``scripts/run`` rendered). Each supervisord
program is measured with all its children (gunicorn master and workers,
dramatiq's fork and its worker processes, the AI worker's model child) by
summing ``Pss`` from ``/proc/<pid>/smaps_rollup``: PSS splits shared pages
(libraries, gunicorn's copy-on-write) between the processes that map them,
so the programs' figures add up to what the host really spends, and what a
program's cgroup is charged is close to its PSS.

The scripted use: 300 submissions on a form that embeds them (the AI worker
embeds each), list pages with filters and totals, similarity searches,
duplicates, analytics summaries and time series, one CSV and one Parquet
export, and one AI fill. The request kinds that load a library into an API
worker (similar: numpy; analytics: DuckDB; exports: pyarrow) are sent
``2 x workers + 1`` times each on fresh connections, so that most workers
serve each of them: the worst case for the api unit. A sampler records
each program's peak PSS during the use as well.

Goals are the seed's: api < 512 MB, every worker < 1 GB, Redis < 256 MB;
each program's unit ``MemoryMax`` from ``app/process_tree.py`` is shown
too, and a program over it misses as well. ``--check`` exits 1 on a miss.

    .venv/bin/python scripts/bench/memory.py                 # start a tree, measure, print, write JSON
    .venv/bin/python scripts/bench/memory.py --check         # ... and exit 1 when a goal is missed
    .venv/bin/python scripts/bench/memory.py --attach var --login admin:secret-password --url http://127.0.0.1:8000
    .venv/bin/python scripts/bench/memory.py --pid self=$$   # one process tree only (what the smoke test runs)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``scripts.bench`` and ``app`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.bench.common import (
    ROOT,
    VENV_BIN,
    Processes,
    free_port,
    host_facts,
    http_json,
    managed_processes,
    wait_for,
)

SEED_GOALS_MB = {"api": 512, "redis": 256}  # NFR-PERF-004; MongoDB (< 2 GB) is not part of this tree
WORKER_GOAL_MB = 1024  # "Workers: < 1GB each": every other program
ADMIN = ("membench", "membench-password-1")
SCHEMA = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "maxLength": 200},
        "details": {"type": "string", "maxLength": 2000},
        "topic": {"enum": ["printer", "network", "account", "hardware", "other"]},
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
        "email": {"type": "string", "format": "email"},
    },
}
TOPICS = {
    "printer": "The printer on floor {n} jams whenever I print more than {m} pages and shows error E{n}{m}.",
    "network": "The Wi-Fi in meeting room {n} drops every {m} minutes; video calls freeze and reconnect.",
    "account": "I cannot sign in since Monday: my password expired and the reset mail never arrives ({n}).",
    "hardware": "My laptop fan is loud and the battery lasts only {m} hours after the update to build {n}.",
    "other": "The coffee machine in building {n} has been out of order for {m} days, please have it fixed.",
}
QUERIES = ("cannot log in, lost my password", "printer paper jam", "wireless network keeps disconnecting",
           "laptop battery drains fast", "kitchen appliance broken")
FILL_TEXT = ("Hello, this is Dana Whitfield (dana.whitfield@example.org). Since this morning the printer on "
             "floor 3 jams on every job longer than two pages. I would rate the service 4 out of 10.")


# -- measuring -------------------------------------------------------------------------------
def smaps_rollup(pid: int) -> dict[str, int]:
    """``/proc/<pid>/smaps_rollup`` in kB (Rss, Pss, Private_Clean, ...); empty when the process is gone."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return out
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "kB":
            out[parts[0].rstrip(":")] = int(parts[1])
    return out


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def tree_pids(root: int, kids: dict[int, list[int]] | None = None) -> list[int]:
    """``root`` and every descendant, parents first."""
    kids = _children() if kids is None else kids
    out, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(sorted(kids.get(pid, [])))
    return out


def _cmd(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:120]


@dataclass
class ProgramMemory:
    """One program with its children: PSS, RSS and USS (private) in MB, and its largest process."""

    pss_mb: float
    rss_mb: float
    uss_mb: float
    processes: int
    largest_pid: int
    largest_pss_mb: float
    largest_cmd: str
    per_process: list[dict[str, Any]] = field(default_factory=list)


def measure_tree(root: int, kids: dict[int, list[int]] | None = None) -> ProgramMemory:
    rows = []
    for pid in tree_pids(root, kids):
        roll = smaps_rollup(pid)
        if not roll:
            continue
        rows.append({"pid": pid, "cmd": _cmd(pid), "pss_mb": roll.get("Pss", 0) / 1024,
                     "rss_mb": roll.get("Rss", 0) / 1024,
                     "uss_mb": (roll.get("Private_Clean", 0) + roll.get("Private_Dirty", 0)) / 1024})
    if not rows:
        raise RuntimeError(f"process {root} is gone or unreadable")
    top = max(rows, key=lambda r: r["pss_mb"])
    return ProgramMemory(
        pss_mb=round(sum(r["pss_mb"] for r in rows), 1), rss_mb=round(sum(r["rss_mb"] for r in rows), 1),
        uss_mb=round(sum(r["uss_mb"] for r in rows), 1), processes=len(rows), largest_pid=top["pid"],
        largest_pss_mb=round(top["pss_mb"], 1), largest_cmd=top["cmd"],
        per_process=[{k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()} for r in rows])


def snapshot(roots: dict[str, int]) -> dict[str, ProgramMemory]:
    kids = _children()
    return {name: measure_tree(pid, kids) for name, pid in roots.items()}


class Sampler:
    """Peak PSS per program while the scripted use runs (a summary's DuckDB arena comes and goes)."""

    def __init__(self, roots: Callable[[], dict[str, int]], interval: float = 0.5) -> None:
        self.roots = roots
        self.interval = interval
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                for name, mem in snapshot(self.roots()).items():
                    self.peak[name] = max(self.peak.get(name, 0.0), mem.pss_mb)
            except (RuntimeError, OSError, subprocess.SubprocessError):
                continue  # a process restarting between two reads

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


# -- the tree --------------------------------------------------------------------------------
def supervised_pids(conf: Path) -> dict[str, int]:
    """Program name -> main pid of every RUNNING supervisord program."""
    out = subprocess.run([str(VENV_BIN / "supervisorctl"), "-c", str(conf), "status"], capture_output=True,
                         text=True, timeout=30).stdout
    return parse_status(out)


def parse_status(text: str) -> dict[str, int]:
    """``supervisorctl status`` lines (``api  RUNNING   pid 123, uptime 0:01:02``) -> {program: pid}."""
    pids = {}
    for line in text.splitlines():
        match = re.match(r"^(\S+)\s+RUNNING\s+pid (\d+),", line)
        if match:
            pids[match.group(1)] = int(match.group(2))
    return pids


def unit_limits_mb() -> dict[str, float]:
    """Each declared process's MemoryMax in MB (from app/process_tree.py)."""
    from app.process_tree import PROCESSES

    factor = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
    out = {}
    for p in PROCESSES:
        if p.memory_max and p.memory_max[-1] in factor:
            out[p.name] = float(p.memory_max[:-1]) * factor[p.memory_max[-1]]
    return out


def goal_mb(name: str) -> float:
    return float(SEED_GOALS_MB.get(name, WORKER_GOAL_MB))


@dataclass
class Tree:
    """A running tree: its supervisord config, base URL and admin credentials."""

    conf: Path
    base: str
    login: tuple[str, str]

    def pids(self) -> dict[str, int]:
        return supervised_pids(self.conf)


def start_tree(procs: Processes, data: Path, web_workers: int | None) -> Tree:
    """What ``scripts/run`` does after its installs: render, bootstrap, supervisord (models from ./var)."""
    from inference.models.defaults import ensure_default_models

    models = ensure_default_models(ROOT / "var")
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FMS_", "REDIS_URL", "MONGODB", "PROMETHEUS_MULTIPROC_DIR"))}
    env.update({"FMS_DATA_DIR": str(data), "FMS_PORT": str(port), "FMS_BOOTSTRAP_ADMIN": ":".join(ADMIN),
                "FMS_LOG_LEVEL": "WARNING", "FMS_LLM_MODEL": str(models["llm"]),
                "FMS_EMBED_MODEL": str(models["embedder"]), "FMS_EMBED_TOKENIZER": str(models["tokenizer"])})
    if web_workers:
        env["FMS_WEB_WORKERS"] = str(web_workers)
    data.mkdir(parents=True, exist_ok=True)
    conf = data / "supervisord.conf"
    broker = subprocess.run([str(VENV_BIN / "fms"), "render", "supervisor", "--out", str(conf)], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True, timeout=120).stdout.strip()
    env["REDIS_URL"] = broker
    subprocess.run([str(VENV_BIN / "fms"), "bootstrap"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True,
                   timeout=120)
    procs.start("supervisord", [str(VENV_BIN / "supervisord"), "-c", str(conf)], data / "tree.log", env=env)
    tree = Tree(conf, f"http://127.0.0.1:{port}", ADMIN)
    try:
        wait_ready(tree, procs, 300)
    except BaseException:
        stop_tree(conf, data)
        raise
    return tree


def tree_processes(conf: Path, data: Path) -> set[int]:
    """Every process of a tree we started: by its data dir in the environment, plus what supervisord
    names (redis-server rewrites its environment for its process title) with their children."""
    marker = f"FMS_DATA_DIR={data}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.add(int(entry.name))
            except OSError:
                continue
    kids = _children()
    for root in supervised_pids(conf).values():
        found.update(tree_pids(root, kids))
    return found


def stop_tree(conf: Path, data: Path, grace: float = 30.0) -> None:
    """Stop a tree we started and leave nothing behind.

    supervisord stops its programs one at a time, waiting up to each one's ``stopwaitsecs``
    (330 s for worker-ai), so signalling it and killing it after a grace period left the
    programs it had not reached yet running (api, relay and embedder, after the first runs of
    this benchmark): every process gets SIGTERM at once, and SIGKILL after ``grace``.
    """
    pids = tree_processes(conf, data)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.2)
    for pid in tree_processes(conf, data) | pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_ready(tree: Tree, procs: Processes | None, timeout: float) -> dict[str, Any]:
    """Until /ready says ok: store, Redis, workers' heartbeats, model files and the embedder."""
    def ready() -> dict[str, Any] | None:
        if procs is not None:
            procs.check_alive()
        try:
            status, body = http_json("GET", f"{tree.base}/ready", timeout=5)
        except OSError:
            return None
        return body if status == 200 and isinstance(body, dict) and body.get("status") == "ok" else None

    return wait_for(ready, timeout, "the tree to be ready", interval=0.5)  # type: ignore[no-any-return]


# -- the scripted use ------------------------------------------------------------------------
class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.token = ""
        self.calls: dict[str, int] = {}

    def login(self, user: str, password: str) -> None:
        status, body = http_json("POST", f"{self.base}/api/v1/auth/login", {"username": user, "password": password})
        if status != 200:
            raise RuntimeError(f"login failed: {status} {body}")
        self.token = body["token"]

    def call(self, kind: str, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 202),
             timeout: float = 60.0) -> Any:
        status, reply = http_json(method, f"{self.base}{path}", body, token=self.token, timeout=timeout)
        if status not in ok:
            raise RuntimeError(f"{method} {path}: {status} {reply}")
        self.calls[kind] = self.calls.get(kind, 0) + 1
        return reply

    def raw(self, kind: str, path: str, timeout: float = 60.0) -> int:
        """A GET whose body is not JSON (exports); returns its size."""
        req = urllib.request.Request(f"{self.base}{path}", headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                size = len(resp.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"GET {path}: {exc.code} {exc.read()[:300]!r}") from exc
        self.calls[kind] = self.calls.get(kind, 0) + 1
        return size


def _answers(i: int) -> dict[str, Any]:
    topic = list(TOPICS)[i % len(TOPICS)]
    return {"title": f"{topic} issue #{i}", "details": TOPICS[topic].format(n=i % 9 + 1, m=i % 7 + 2),
            "topic": topic, "score": i % 11, "email": f"user{i}@example.org"}


def scripted_use(client: Client, submissions: int, rounds: int, fill: bool,
                 log: Callable[[str], None]) -> dict[str, Any]:
    """The use the issue measured after, plus exports; returns what was done and how long it took."""
    t0 = time.monotonic()
    form = client.call("form", "POST", "/api/v1/forms",
                       {"title": "Memory bench", "schema": SCHEMA, "settings": {"ai": {"embed": True}}})
    fid = form["id"]
    for i in range(submissions):
        client.call("submission", "POST", f"/api/v1/forms/{fid}/submissions", {"answers": _answers(i)})
    log(f"{submissions} submissions in {time.monotonic() - t0:.1f} s")
    for i in range(rounds):
        client.call("list", "GET", f"/api/v1/forms/{fid}/submissions?limit=100&include_total=true")
        client.call("list", "GET", f"/api/v1/forms/{fid}/submissions?limit=50&filter[answers.topic]=printer,account"
                    f"&filter[answers.score][gte]={i % 10}&fields=title,score")
    embedded = _wait_embedded(client, fid, submissions, 180)
    log(f"{embedded} of {submissions} submissions embedded by the AI worker")
    for i in range(rounds):
        client.call("similar", "GET", f"/api/v1/forms/{fid}/similar?k=5&q="
                    + urllib.request.quote(QUERIES[i % len(QUERIES)]))
        client.call("duplicates", "GET", f"/api/v1/forms/{fid}/duplicates?threshold=0.95")
        # a distinct filter per call: computed by DuckDB each time, not served from the cache
        client.call("analytics", "GET", f"/api/v1/forms/{fid}/analytics?filter[answers.score][gte]={i}"
                    + ("&split_by=topic" if i % 2 else ""))
        client.call("timeseries", "GET", f"/api/v1/forms/{fid}/analytics/timeseries?interval=day&"
                    f"filter[answers.score][lte]={10 - i % 10}")
        client.raw("export", f"/api/v1/forms/{fid}/export?format={'parquet' if i % 2 else 'csv'}")
    fill_state = None
    if fill:
        t1 = time.monotonic()
        task = client.call("fill", "POST", f"/api/v1/forms/{fid}/fill", {"text": FILL_TEXT})
        rec = wait_for(lambda: _finished(client, task["task_id"]), 900, "the fill task", interval=1.0)
        fill_state = rec["state"]
        log(f"fill {fill_state} in {time.monotonic() - t1:.1f} s")
    return {"form_id": fid, "calls": dict(client.calls), "embedded": embedded, "fill": fill_state,
            "seconds": round(time.monotonic() - t0, 1)}


def _wait_embedded(client: Client, fid: str, want: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        got = int(client.call("duplicates", "GET", f"/api/v1/forms/{fid}/duplicates?threshold=0.99")["embedded"])
        if got >= want or time.monotonic() > deadline:
            return got
        time.sleep(1.0)


def _finished(client: Client, task_id: str) -> dict[str, Any] | None:
    rec = client.call("task", "GET", f"/api/v1/tasks/{task_id}")
    return rec if rec.get("state") in {"succeeded", "failed", "dead", "cancelled"} else None


# -- report ----------------------------------------------------------------------------------
def verdicts(phases: dict[str, dict[str, ProgramMemory]], peaks: dict[str, float],
             limits: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per program: its worst PSS over the phases and peaks, the goal, the unit limit and whether it is met."""
    out = {}
    names = sorted({n for phase in phases.values() for n in phase})
    for name in names:
        worst = max([phase[name].pss_mb for phase in phases.values() if name in phase] + [peaks.get(name, 0.0)])
        goal, unit = goal_mb(name), limits.get(name)
        out[name] = {"worst_pss_mb": round(worst, 1), "goal_mb": goal, "unit_memory_max_mb": unit,
                     "met": worst < goal and (unit is None or worst < unit)}
    return out


def table(phases: dict[str, dict[str, ProgramMemory]], peaks: dict[str, float],
          result: dict[str, dict[str, Any]]) -> str:
    cols = list(phases)
    head = ["program", *(f"{c} PSS" for c in cols), *(["peak PSS"] if peaks else []), "procs", "goal",
            "MemoryMax", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, verdict in result.items():
        cells = [name]
        cells += [f"{phases[c][name].pss_mb:,.0f} MB" if name in phases[c] else "-" for c in cols]
        if peaks:
            cells.append(f"{peaks.get(name, 0):,.0f} MB")
        last = next((phases[c][name] for c in reversed(cols) if name in phases[c]), None)
        cells.append(str(last.processes if last else "-"))
        cells.append(f"< {verdict['goal_mb']:,.0f} MB")
        unit = verdict["unit_memory_max_mb"]
        cells.append(f"{unit:,.0f} MB" if unit else "-")
        cells.append("yes" if verdict["met"] else "**no**")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--attach", type=Path, default=None, help="data dir of a running tree (its supervisord.conf)")
    p.add_argument("--url", default=None, help="with --attach: the API's base URL (enables the scripted use)")
    p.add_argument("--login", default=None, help="with --attach and --url: user:password of an admin")
    p.add_argument("--pid", action="append", default=[], metavar="NAME=PID",
                   help="measure these process trees only, no use (repeatable; 'self' for this process)")
    p.add_argument("--goal", action="append", default=[], metavar="NAME=MB", help="override a program's goal")
    p.add_argument("--submissions", type=int, default=300)
    p.add_argument("--rounds", type=int, default=0, help="rounds of searches/analytics/exports (0: 2 x workers + 1)")
    p.add_argument("--no-fill", action="store_true", help="skip the AI fill (and the LLM load)")
    p.add_argument("--web-workers", type=int, default=None, help="FMS_WEB_WORKERS for a started tree")
    p.add_argument("--settle", type=float, default=3.0, help="seconds to let the tree settle before a measure")
    p.add_argument("--out", type=Path, default=ROOT / "bench-results" / "memory.json", help="JSON result file")
    p.add_argument("--check", action="store_true", help="exit 1 when a program misses its goal")
    return p.parse_args(argv)


def _goal_overrides(pairs: list[str]) -> None:
    for pair in pairs:
        name, _, mb = pair.partition("=")
        SEED_GOALS_MB[name] = int(float(mb))


def _pid_roots(pairs: list[str]) -> dict[str, int]:
    roots = {}
    for pair in pairs:
        name, _, pid = pair.partition("=")
        roots[name] = os.getpid() if pid in ("", "self") else int(pid)
    return roots


def _open_tree(args: argparse.Namespace, procs: Processes, data: Path) -> Tree:
    """The running tree named by --attach (used only with --url and --login), else a fresh one in ``data``."""
    if args.attach is None:
        return start_tree(procs, data, args.web_workers)
    conf = args.attach.resolve() / "supervisord.conf"
    if not (args.url and args.login):
        return Tree(conf, "", ("", ""))
    user, _, password = args.login.partition(":")
    tree = Tree(conf, args.url.rstrip("/"), (user, password))
    wait_ready(tree, None, 60)
    return tree


def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """Measure (and use) the tree; returns the JSON document."""
    doc: dict[str, Any] = {"benchmark": "memory", "started_at": dt.datetime.now(dt.UTC).isoformat(),
                           "host": host_facts(), "units": "MB (PSS of each program with its children)"}
    phases: dict[str, dict[str, ProgramMemory]] = {}
    peaks: dict[str, float] = {}
    if args.pid:
        roots = _pid_roots(args.pid)
        phases["now"] = snapshot(roots)
    else:
        with managed_processes() as procs, tempfile.TemporaryDirectory(prefix="fms-membench-") as tmp:
            tree = _open_tree(args, procs, Path(tmp) / "data")
            try:
                time.sleep(args.settle)  # start-up garbage collected, the workers' first heartbeats sent
                phases["idle"] = snapshot(tree.pids())
                log("idle measured")
                if tree.base:
                    client = Client(tree.base)
                    client.login(*tree.login)
                    workers = phases["idle"]["api"].processes - 1 if "api" in phases["idle"] else 5
                    with Sampler(tree.pids) as sampler:
                        doc["use"] = scripted_use(client, args.submissions, args.rounds or 2 * workers + 1,
                                                  not args.no_fill, log)
                    peaks = sampler.peak
                    time.sleep(args.settle)
                    phases["after_use"] = snapshot(tree.pids())
            finally:
                if not args.attach:  # stop everything; the tree's log outlives its temporary data dir
                    stop_tree(tree.conf, Path(tmp) / "data")
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(Path(tmp) / "data" / "tree.log", args.out.with_suffix(".tree.log"))
    result = verdicts(phases, peaks, unit_limits_mb())
    doc["phases"] = {phase: {n: asdict(m) for n, m in mems.items()} for phase, mems in phases.items()}
    doc["peak_pss_mb"] = {n: round(v, 1) for n, v in peaks.items()}
    doc["programs"] = result
    doc["met"] = all(v["met"] for v in result.values())
    doc["table"] = table(phases, peaks, result)
    return doc


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _goal_overrides(args.goal)
    doc = run(args, lambda msg: print(f"[memory] {msg}", file=sys.stderr, flush=True))
    print(doc["table"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")
    if args.check and not doc["met"]:
        missed = [f"{n} {v['worst_pss_mb']:,.0f} MB" for n, v in doc["programs"].items() if not v["met"]]
        print("memory goals missed: " + ", ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
