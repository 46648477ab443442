"""Chaos run: submissions flow to a webhook receiver while workers and Redis are abused.

    .venv/bin/python scripts/chaos/run.py [--n 500] [--outage 10]

What happens, in order, while N submissions are posted at a steady pace:

* at 25 %: every worker process is killed with SIGKILL, then started again;
* at 50 %: Redis (AOF ``everysec``) is restarted;
* at 70 %: Redis is stopped for ``--outage`` seconds while submissions keep
  coming (the API must keep answering 201).

Afterwards it waits for the deliveries and prints a JSON summary: accepted
submissions, deliveries with a valid Standard Webhooks signature, duplicates
(same webhook-id delivered again: allowed, at-least-once), conflicting
duplicates (same id, different payload: never allowed) and **lost** events
(accepted submission whose webhook never arrived: must be 0). Exit status 1
when anything was lost or conflicting.

The API runs in this process (Flask test client over the real store); the
relay and the workers are real ``fms relay`` / ``dramatiq tasks.worker``
processes; Redis is a real redis-server on a private port.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "scripts" / "bench"))

from common import free_port  # noqa: E402
from receiver import Receiver  # noqa: E402

SCHEMA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}}


class Redis:
    """redis-server with AOF everysec on a fixed port in its own directory; restartable."""

    def __init__(self, directory: Path) -> None:
        self.dir, self.port = directory, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
             "--maxmemory-policy", "noeviction"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SHUTDOWN: the AOF is flushed
            self.proc.wait(20)
        self.proc = None


class Chaos:
    def __init__(self, workdir: Path, n: int, outage: float, interval: float, workers: int) -> None:
        self.workdir, self.n, self.outage, self.interval, self.nworkers = workdir, n, outage, interval, workers
        self.redis = Redis(workdir / "redis")
        self.receiver = Receiver()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.events: list[str] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FMS_", "REDIS_URL", "MONGODB"))}
        env.update({
            "REDIS_URL": self.redis.url, "FMS_DATA_DIR": str(self.workdir / "data"), "FMS_SECRET_KEY": "chaos",
            "FMS_SQLITE_SYNCHRONOUS": "NORMAL", "FMS_WEBHOOK_ALLOW_NETS": "127.0.0.0/8", "FMS_WEBHOOK_TIMEOUT": "2",
            "FMS_TASK_MIN_BACKOFF_MS": "200", "FMS_TASK_MAX_BACKOFF_MS": "2000", "FMS_TASK_MAX_RETRIES": "8",
            "FMS_BROKER_HEARTBEAT_TIMEOUT_MS": "5000", "FMS_RELAY_INTERVAL": "0.05", "FMS_LOG_LEVEL": "WARNING",
            "FMS_WORKER_TIMEOUT_MS": "500", "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "prom"),
            "PYTHONPATH": str(ROOT), "dramatiq_restart_delay": "500",
        })
        return env

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(argv, env=self.env(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def start_workers(self) -> None:
        venv = Path(sys.executable).parent
        self._spawn("workers", [str(venv / "dramatiq"), "tasks.worker", "--processes", str(self.nworkers),
                                "--threads", "4", "--queues", "default"])

    def start_relay(self) -> None:
        self._spawn("relay", [str(Path(sys.executable).parent / "fms"), "relay"])

    def kill9_workers(self) -> None:
        proc = self.procs.pop("workers")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.events.append(f"{time.strftime('%X')} kill -9 workers")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()

    def run(self) -> dict[str, Any]:
        os.environ.update({k: v for k, v in self.env().items() if k.startswith(("FMS_", "REDIS_URL"))})
        (self.workdir / "prom").mkdir(parents=True, exist_ok=True)
        self.redis.start()
        self.receiver.start()
        from app.factory import create_app
        from app.settings import Settings

        settings = Settings.from_env(environ=self.env(), dotenv=None)
        app = create_app(settings)
        svc = app.extensions["fms"]
        client = app.test_client()
        user = svc.auth.create_user("chaos", "chaos-password-1", "admin", actor="chaos")
        key, _ = svc.auth.create_api_key(user["id"], "manage", None, "chaos", actor="chaos")
        auth = {"Authorization": f"Bearer {key}"}
        form = client.post("/api/v1/forms", json={"title": "chaos", "schema": SCHEMA}, headers=auth).json
        from app.auth.service import Principal
        from app.webhooks.service import WebhookService

        me = Principal(user["id"], "chaos", "admin", "manage", None, "x", "apikey")
        hook = WebhookService(svc.store, settings).create(form["id"], {"url": self.receiver.url + "/chaos"}, me)
        self.start_relay()
        self.start_workers()
        accepted: list[str] = []
        refused = 0
        marks = {int(self.n * 0.25): "kill", int(self.n * 0.5): "restart", int(self.n * 0.7): "outage"}
        outage_until = 0.0
        started = time.monotonic()
        for i in range(self.n):
            action = marks.get(i)
            if action == "kill":
                self.kill9_workers()
                self.start_workers()
            elif action == "restart":
                self.redis.stop()
                self.redis.start()
                self.events.append(f"{time.strftime('%X')} redis restarted")
            elif action == "outage":
                self.redis.stop()
                outage_until = time.monotonic() + self.outage
                self.events.append(f"{time.strftime('%X')} redis stopped for {self.outage}s")
            if outage_until and time.monotonic() >= outage_until:
                self.redis.start()
                outage_until = 0.0
                self.events.append(f"{time.strftime('%X')} redis back")
            resp = client.post(f"/api/v1/forms/{form['id']}/submissions", json={"answers": {"name": "c", "n": i}},
                               headers=auth)
            if resp.status_code == 201:
                accepted.append(resp.json["id"])
            else:
                refused += 1
            time.sleep(self.interval)
        if outage_until:
            time.sleep(max(0.0, outage_until - time.monotonic()))
            self.redis.start()
            self.events.append(f"{time.strftime('%X')} redis back")
        submit_s = time.monotonic() - started
        result = self.wait_and_count(hook, accepted, timeout=max(90.0, self.outage * 6))
        result.update({"submitted": self.n, "refused": refused, "submit_seconds": round(submit_s, 1),
                       "events": self.events})
        return result

    def wait_and_count(self, hook: dict[str, Any], accepted: list[str], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        wanted = set(accepted)
        while True:
            tally = self.receiver.tally("/chaos", hook["secret"])  # this receiver always answers 200
            lost = wanted - tally.seen
            if not lost or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        received = len(self.receiver.received("/chaos"))
        return {"accepted": len(accepted), "delivered": len(tally.seen & wanted), "requests": received,
                "duplicates": received - tally.invalid - len(tally.bodies), "invalid_signatures": tally.invalid,
                "conflicting": sum(1 for bodies in tally.bodies.values() if len(bodies) > 1), "lost": len(lost),
                "lost_ids": sorted(lost)[:20]}

    def close(self) -> None:
        self.stop_all()
        self.redis.stop()
        self.receiver.stop()


def run(n: int = 500, outage: float = 10.0, interval: float = 0.04, workers: int = 2,
        workdir: Path | None = None) -> dict[str, Any]:
    own = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="fms-chaos-"))
    chaos = Chaos(workdir, n, outage, interval, workers)
    try:
        result = chaos.run()
    finally:
        chaos.close()
    result["workdir"] = str(workdir)
    if own and result["lost"] == 0 and result["conflicting"] == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="submissions to post")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds Redis stays down at 70 %%")
    parser.add_argument("--interval", type=float, default=0.04, help="seconds between submissions")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (4 threads each)")
    args = parser.parse_args()
    result = run(args.n, args.outage, args.interval, args.workers)
    print(json.dumps(result, indent=2))
    print(f"lost events: {result['lost']}")
    sys.exit(1 if result["lost"] or result["conflicting"] else 0)


if __name__ == "__main__":
    main()
