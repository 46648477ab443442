"""Chaos through the REAL process tree as ``scripts/run`` starts it (supervisord, gunicorn over HTTP, workers,
relay, redis-server).

    .venv/bin/python scripts/chaos/tree.py [--n 200] [--outage 20]

A client posts N submissions over HTTP, each with its own ``Idempotency-Key``,
and retries a request on any error (connection reset, 5xx) with the same key.
Meanwhile, by the count posted:

* 20 %: every webhook/high worker process gets SIGKILL (supervisord restarts them);
* 30 %: the loopback receiver answers 503 for ``--outage`` seconds — longer
  than several steps of the compressed retry schedule given through
  ``FMS_WEBHOOK_RETRY_SCHEDULE``;
* 45 %: one gunicorn worker gets SIGKILL (the master replaces it);
* 60 %: redis-server gets SIGKILL (supervisord restarts it; AOF everysec).

Then it waits for every event and prints a JSON summary: submissions accepted,
stored (listed through the API), stored twice, lost; events delivered with a
valid Standard Webhooks signature, undelivered, redelivered (same webhook-id
again: allowed, at-least-once) and conflicting (same webhook-id, different
body: never allowed); seconds from the receiver's return to the last event.
Exit status 1 when anything was lost, duplicated, undelivered or conflicting.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "scripts" / "bench"))

from common import free_port, wait_for  # noqa: E402
from receiver import Receiver  # noqa: E402

SCHEMA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}}
SCHEDULE = "0,1s,2s,3s,5s,8s,13s,20s,30s,30s"  # ~2 min in all; the outage outlasts its first five steps
ADMIN = ("chaos", "chaos-password-1")


class Tree:
    """``scripts/run`` in its own session, and its processes found by our data dir in /proc."""

    def __init__(self, workdir: Path) -> None:
        self.data = workdir / "data"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "tree.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("FMS_", "REDIS_URL", "MONGODB", "PROMETHEUS_MULTIPROC_DIR"))}
        env.update({
            "FMS_DATA_DIR": str(self.data), "FMS_PORT": str(self.port), "FMS_BOOTSTRAP_ADMIN": ":".join(ADMIN),
            "FMS_WEB_WORKERS": "2", "FMS_SQLITE_SYNCHRONOUS": "NORMAL", "FMS_LOG_LEVEL": "WARNING",
            "FMS_WEBHOOK_ALLOW_NETS": "127.0.0.0/8", "FMS_WEBHOOK_TIMEOUT": "2",
            "FMS_WEBHOOK_RETRY_SCHEDULE": SCHEDULE, "FMS_WEBHOOK_SWEEP_INTERVAL": "1",
            "FMS_BREAKER_RESET": "3", "FMS_BROKER_HEARTBEAT_TIMEOUT_MS": "5000", "FMS_RELAY_INTERVAL": "0.05",
            "FMS_WORKER_TIMEOUT_MS": "500", "dramatiq_restart_delay": "500",
        })
        return env

    def start(self) -> None:
        """What ``scripts/run`` does once its installs are done (tests/test_processes.py runs the script
        itself): render the supervisord config from the process tree, bootstrap, run supervisord.

        Skipping the installs keeps this test from rebuilding the virtualenv on a machine whose
        requirements changed since its last ``scripts/test``.
        """
        self.data.mkdir(parents=True, exist_ok=True)
        venv = Path(sys.executable).parent
        env = self.env()
        shutil.rmtree(self.data / "prometheus", ignore_errors=True)  # multiprocess files belong to one run
        conf = self.data / "supervisord.conf"
        broker = subprocess.run([str(venv / "fms"), "render", "supervisor", "--out", str(conf)], cwd=ROOT, env=env,
                                capture_output=True, text=True, check=True, timeout=120).stdout.strip()
        env["REDIS_URL"] = broker
        subprocess.run([str(venv / "fms"), "bootstrap"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True,
                       timeout=120)
        out = self.log.open("ab")
        self.proc = subprocess.Popen([str(venv / "supervisord"), "-c", str(conf)], cwd=ROOT, env=env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._ready, 300, "the tree to be ready", interval=0.5)

    def _ready(self) -> bool:
        """Store, Redis and worker heartbeats up (the model probe is no concern of this run)."""
        checks = requests.get(f"{self.base}/ready", timeout=10).json()["checks"]
        return all(checks[name]["ok"] for name in ("store", "redis", "workers"))

    def processes(self) -> list[tuple[int, str, int]]:
        """(pid, FMS_PROCESS, parent pid) of every process of this tree."""
        marker = f"FMS_DATA_DIR={self.data}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if marker not in environ:
                continue
            name = next((e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"FMS_PROCESS=")), "")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            found.append((int(entry.name), name, ppid))
        return found

    def kill(self, names: set[str]) -> int:
        pids = [pid for pid, name, _ in self.processes() if name in names]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return len(pids)

    def kill_redis(self) -> int:
        """redis-server rewrites its environ for its process title: ask supervisord for its pid."""
        out = subprocess.run([str(Path(sys.executable).parent / "supervisorctl"), "-c",
                              str(self.data / "supervisord.conf"), "pid", "redis"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
        if not out.isdigit() or out == "0":
            return 0
        os.kill(int(out), signal.SIGKILL)
        return 1

    def kill_one_gunicorn_worker(self) -> int:
        api = {pid: ppid for pid, name, ppid in self.processes() if name == "api"}
        workers = [pid for pid, ppid in api.items() if ppid in api]
        if not workers:
            return 0
        os.kill(workers[0], signal.SIGKILL)
        return 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        for pid, _, _ in self.processes():  # nothing of ours may outlive the run
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Client:
    """Posts with an Idempotency-Key per submission and retries on any error with the same key."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.headers: dict[str, str] = {}
        self.retries = 0

    def login(self) -> None:
        resp = self.session.post(f"{self.base}/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]},
                                 timeout=10)
        resp.raise_for_status()
        self.headers = {"Authorization": f"Bearer {resp.json()['token']}"}

    def call(self, method: str, path: str, body: Any = None, key: str | None = None, patience: float = 90) -> Any:
        headers = dict(self.headers, **({"Idempotency-Key": key} if key else {}))
        deadline = time.monotonic() + patience
        while True:
            try:
                resp = self.session.request(method, f"{self.base}{path}", json=body, headers=headers, timeout=10)
                if resp.status_code < 500:
                    resp.raise_for_status()
                    return resp.json()
            except (requests.ConnectionError, requests.Timeout):
                self.session = requests.Session()  # the peer went away mid-request
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {path} kept failing")
            self.retries += 1
            time.sleep(0.2)

    def all_submissions(self, form_id: str) -> list[str]:
        ids: list[str] = []
        cursor = ""
        while True:
            page = self.call("GET", f"/api/v1/forms/{form_id}/submissions?limit=1000&fields=n"
                             + (f"&cursor={cursor}" if cursor else ""))
            ids.extend(item["id"] for item in page["items"])
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return ids


class Chaos:
    def __init__(self, workdir: Path, n: int, outage: float, interval: float) -> None:
        self.workdir, self.n, self.outage, self.interval = workdir, n, outage, interval
        self.receiver = Receiver()
        self.tree = Tree(workdir)
        self.events: list[str] = []
        self.back_at: float | None = None
        self.started = time.monotonic()

    def note(self, what: str) -> None:
        self.events.append(f"{time.monotonic() - self.started:6.1f}s {what}")

    def _outage(self) -> None:
        self.receiver.down(503)
        self.note(f"receiver answers 503 for {self.outage}s")

        def back() -> None:
            self.receiver.down(None)
            self.back_at = time.monotonic()
            self.note("receiver back")

        timer = threading.Timer(self.outage, back)
        timer.daemon = True
        timer.start()

    def _act(self, i: int) -> None:
        marks = {int(self.n * 0.2): "workers", int(self.n * 0.3): "outage", int(self.n * 0.45): "gunicorn",
                 int(self.n * 0.6): "redis"}
        action = marks.get(i)
        if action == "workers":
            self.note(f"SIGKILL {self.tree.kill({'worker-default', 'worker-high'})} worker processes")
        elif action == "outage":
            self._outage()
        elif action == "gunicorn":
            self.note(f"SIGKILL {self.tree.kill_one_gunicorn_worker()} gunicorn worker")
        elif action == "redis":
            self.note(f"SIGKILL {self.tree.kill_redis()} redis-server")

    def run(self) -> dict[str, Any]:
        self.receiver.start()
        self.tree.start()
        self.started = time.monotonic()
        self.note("tree ready")
        client = Client(self.tree.base)
        client.login()
        form = client.call("POST", "/api/v1/forms", {"title": "chaos", "schema": SCHEMA})
        hook = client.call("POST", f"/api/v1/forms/{form['id']}/webhooks", {"url": self.receiver.url + "/chaos"})
        accepted: dict[str, str] = {}  # idempotency key -> submission id
        for i in range(self.n):
            self._act(i)
            key = str(uuid.uuid4())
            accepted[key] = client.call("POST", f"/api/v1/forms/{form['id']}/submissions",
                                        {"answers": {"name": "chaos", "n": i}}, key=key)["id"]
            time.sleep(self.interval)
        self.note(f"{self.n} posted ({client.retries} client retries)")
        result = self._drain(hook["secret"], set(accepted.values()))
        stored = client.all_submissions(form["id"])
        states: dict[str, int] = {}
        for d in client.call("GET", f"/api/v1/webhooks/{hook['id']}/deliveries?limit=1000")["items"]:
            states[d["state"]] = states.get(d["state"], 0) + 1
        result.update({
            "submitted": self.n, "accepted": len(set(accepted.values())), "stored": len(set(stored)),
            "stored_twice": len(stored) - len(set(stored)), "lost": len(set(accepted.values()) - set(stored)),
            "client_retries": client.retries, "delivery_states": states, "events": self.events,
        })
        return result

    def _drain(self, secret: str, wanted: set[str], timeout: float = 150.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            tally = self.receiver.tally("/chaos", secret)
            if (not wanted - tally.seen and self.back_at is not None) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        bodies, seen, invalid = tally.bodies, tally.seen, tally.invalid
        done = time.monotonic()
        self.note(f"{len(wanted & seen)} of {len(wanted)} events delivered")
        requests_ok = sum(1 for r in self.receiver.received("/chaos") if r["status"] == 200)
        return {"delivered": len(wanted & seen), "undelivered": len(wanted - seen),
                "requests": len(self.receiver.received("/chaos")), "answered_503": sum(
                    1 for r in self.receiver.received("/chaos") if r["status"] == 503),
                "redelivered": requests_ok - invalid - len(bodies), "invalid_signatures": invalid,
                "conflicting": sum(1 for b in bodies.values() if len(b) > 1),
                "drain_seconds_after_receiver_back": round(done - self.back_at, 1) if self.back_at else None,
                "max_concurrent_requests": self.receiver.max_active.get("/chaos", 0)}

    def close(self) -> None:
        self.tree.stop()
        self.receiver.stop()


def run(n: int = 200, outage: float = 20.0, interval: float = 0.03, workdir: Path | None = None) -> dict[str, Any]:
    own = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="fms-chaos-tree-"))
    chaos = Chaos(workdir, n, outage, interval)
    started = time.monotonic()
    try:
        result = chaos.run()
    finally:
        chaos.close()
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    result["workdir"] = str(workdir)
    if own and ok(result):
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def ok(result: dict[str, Any]) -> bool:
    return not (result["lost"] or result["stored_twice"] or result["undelivered"] or result["conflicting"]
                or result["invalid_signatures"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="submissions to post")
    parser.add_argument("--outage", type=float, default=20.0, help="seconds the receiver answers 503")
    parser.add_argument("--interval", type=float, default=0.03, help="seconds between submissions")
    args = parser.parse_args()
    result = run(args.n, args.outage, args.interval)
    print(json.dumps(result, indent=2))
    sys.exit(0 if ok(result) else 1)


if __name__ == "__main__":
    main()
