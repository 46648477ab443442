"""Queue benchmark: fms actors vs a raw Dramatiq no-op on the same Redis, one run.

    .venv/bin/python scripts/bench/queues.py [--n 20000] [--samples 200] [--json out.json]

Measures, on a private redis-server (or ``--redis-url``):

1. drain rate on ``high``: N no-op messages enqueued in one pipeline, time
   until every message is acked — stock ``RedisBroker`` + default middleware
   vs the fms broker (wake-up consumer, Lifecycle/Heartbeat middleware);
2. idle enqueue→start latency on ``high`` (one message at a time, the actor
   stamps its start time) for both;
3. the same fms latency while ``ai`` is saturated by a CPU-bound actor in its
   own worker process.

The module doubles as the worker module (``dramatiq queues --path scripts/bench``)
with ``BENCH_MODE=raw`` or ``fms`` choosing which broker it declares.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
LAT_KEY = "bench:lat"
MODE = os.environ.get("BENCH_MODE", "")

# -- worker side -----------------------------------------------------------------------------------------
if MODE == "raw":
    import dramatiq
    import redis as _redis
    from dramatiq.brokers.redis import RedisBroker

    _broker = RedisBroker(url=os.environ["REDIS_URL"])
    dramatiq.set_broker(_broker)
    _r = _redis.Redis.from_url(os.environ["REDIS_URL"])

    @dramatiq.actor(actor_name="raw_noop", queue_name="high", max_retries=0)
    def raw_noop() -> None:
        pass

    @dramatiq.actor(actor_name="raw_stamp", queue_name="high", max_retries=0)
    def raw_stamp(enqueued: float) -> None:
        _r.rpush(LAT_KEY, repr(time.time() - enqueued))

elif MODE == "fms":
    sys.path.insert(0, str(ROOT))
    import redis as _redis

    import tasks.worker  # noqa: F401 - configures the fms broker from the environment
    from tasks.broker import actor

    _r = _redis.Redis.from_url(os.environ["REDIS_URL"])

    @actor("system.bench_stamp", max_retries=0)
    def fms_stamp(enqueued: float) -> None:
        _r.rpush(LAT_KEY, repr(time.time() - enqueued))

    @actor("ai.bench_burn", max_retries=0)
    def burn(seconds: float) -> None:
        end = time.perf_counter() + seconds
        x = 0
        while time.perf_counter() < end:
            x += 1


# -- driver side --------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Bench:
    def __init__(self, redis_url: str, workdir: Path) -> None:
        import redis

        self.url = redis_url
        self.r = redis.Redis.from_url(redis_url)
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def env(self, mode: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FMS_")}
        env.update({"BENCH_MODE": mode, "REDIS_URL": self.url, "FMS_DATA_DIR": str(self.workdir / "data"),
                    "FMS_SECRET_KEY": "bench", "FMS_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
                    "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "prom")})
        env.update(extra)
        return env

    def start(self, mode: str, queues: tuple[str, ...], processes: int, threads: int, **extra: str) -> None:
        (self.workdir / "prom").mkdir(parents=True, exist_ok=True)
        argv = [str(Path(sys.executable).parent / "dramatiq"), "queues", "--path", str(HERE), "--processes",
                str(processes), "--threads", str(threads), "--queues", *queues]
        log = (self.workdir / f"{mode}-{'-'.join(queues)}.log").open("ab")
        self.procs.append(subprocess.Popen(argv, env=self.env(mode, **extra), stdout=log, stderr=subprocess.STDOUT,
                                           cwd=ROOT, start_new_session=True))

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        self.procs.clear()

    def wait_ready(self, mode: str, timeout: float = 60) -> None:
        """Workers answer: a stamp message comes back."""
        self.r.delete(LAT_KEY)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.send_stamp(mode)
            if self.r.blpop([LAT_KEY], timeout=1):
                while self.r.hlen("dramatiq:high.msgs") > 0:  # let the other probes finish
                    time.sleep(0.01)
                time.sleep(0.2)
                self.r.delete(LAT_KEY)
                return
        raise RuntimeError(f"{mode} workers did not answer; see {self.workdir}")

    def send_stamp(self, mode: str) -> None:
        from dramatiq.message import Message

        name = "raw_stamp" if mode == "raw" else "system.bench_stamp"
        msg = Message(queue_name="high", actor_name=name, args=(time.time(),), kwargs={}, options={})
        self._enqueue([msg], mode)

    def _enqueue(self, messages: list[Any], mode: str) -> float:
        """Enqueue like each side's producer would; returns seconds taken."""
        start = time.perf_counter()
        if mode == "raw":
            from dramatiq.brokers.redis import RedisBroker

            broker = getattr(self, "_raw_broker", None) or RedisBroker(url=self.url)
            self._raw_broker = broker
            pipe_broker = broker
            if len(messages) == 1:
                pipe_broker.enqueue(messages[0])
            else:  # a pipeline of the stock dispatch script, so both sides enqueue at the same speed
                pipe = broker.client.pipeline(transaction=False)
                for m in messages:
                    m = m.copy(options={"redis_message_id": m.message_id})
                    broker.scripts["dispatch"](
                        keys=[broker.namespace],
                        args=["enqueue", int(time.time() * 1000), "high", broker.broker_id, broker.heartbeat_timeout,
                              broker.dead_message_ttl, 0, 1000, m.message_id, m.encode()], client=pipe)
                pipe.execute()
        else:
            broker = self.fms_broker()
            if len(messages) == 1:
                broker.enqueue(messages[0])
            else:
                broker.enqueue_many(messages)
        return time.perf_counter() - start

    def fms_broker(self) -> Any:
        broker = getattr(self, "_fms_broker", None)
        if broker is None:
            from app.settings import Settings
            from tasks.broker import build_broker

            settings = Settings.from_env(environ={}, dotenv=None, redis_url=self.url, data_dir=self.workdir / "data",
                                         secret_key="bench")
            from tasks import runtime

            runtime.use(settings)
            broker = self._fms_broker = build_broker(settings)
        return broker

    def drain(self, mode: str, n: int) -> dict[str, float]:
        from dramatiq.message import Message

        name = "raw_noop" if mode == "raw" else "system.noop"
        messages = [Message(queue_name="high", actor_name=name, args=(), kwargs={}, options={}) for _ in range(n)]
        start = time.perf_counter()
        enqueue_s = self._enqueue(messages, mode)
        while self.r.hlen("dramatiq:high.msgs") > 0:
            time.sleep(0.005)
        total = time.perf_counter() - start
        return {"n": n, "seconds": round(total, 3), "tasks_per_s": round(n / total, 1),
                "enqueue_per_s": round(n / enqueue_s, 1)}

    def latency(self, mode: str, samples: int) -> dict[str, float]:
        """One message at a time, 50-350 ms apart (random): an idle queue, as a waiting user meets it."""
        rng = random.Random(42)
        self.r.delete(LAT_KEY)
        for _ in range(samples):
            self.send_stamp(mode)
            time.sleep(rng.uniform(0.05, 0.35))
        deadline = time.monotonic() + 30
        while self.r.llen(LAT_KEY) < samples and time.monotonic() < deadline:
            time.sleep(0.01)
        values = [float(v) * 1000 for v in self.r.lrange(LAT_KEY, 0, -1)]
        return {"samples": len(values), "p50_ms": round(_pct(values, 50), 2), "p95_ms": round(_pct(values, 95), 2),
                "max_ms": round(max(values), 2), "mean_ms": round(statistics.mean(values), 2)}

    def saturate_ai(self, seconds: float, count: int) -> None:
        from dramatiq.message import Message

        msgs = [Message(queue_name="ai", actor_name="ai.bench_burn", args=(seconds,), kwargs={}, options={})
                for _ in range(count)]
        self.fms_broker().enqueue_many(msgs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="no-op tasks per drain run")
    parser.add_argument("--samples", type=int, default=150, help="latency samples per run")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--prefetch", type=int, default=0, help="FMS_QUEUE_PREFETCH for the fms workers")
    parser.add_argument("--repeat", type=int, default=2, help="drain runs per side; the best counts (noisy hosts)")
    parser.add_argument("--raw-prefetch", type=int, default=0, help="dramatiq_queue_prefetch for the raw workers")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fms-bench-queues-"))
    server = None
    url = args.redis_url
    if not url:
        port = _free_port()
        server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                                   "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.3)
    bench = Bench(url, workdir)
    report: dict[str, Any] = {"cores": len(os.sched_getaffinity(0)), "n": args.n, "processes": args.processes,
                              "threads": args.threads, "fms_prefetch": args.prefetch or "2 x threads",
                              "raw_prefetch": args.raw_prefetch or "2 x threads", "loadavg": os.getloadavg()[0]}
    try:
        bench.r.flushall()
        raw_extra = {"dramatiq_queue_prefetch": str(args.raw_prefetch)} if args.raw_prefetch else {}
        bench.start("raw", ("high",), args.processes, args.threads, **raw_extra)
        bench.wait_ready("raw")
        report["raw_drain"] = max((bench.drain("raw", args.n) for _ in range(args.repeat)),
                                  key=lambda d: d["tasks_per_s"])
        report["raw_idle_latency"] = bench.latency("raw", args.samples)
        bench.stop_all()

        bench.r.flushall()
        extra = {"FMS_QUEUE_PREFETCH": str(args.prefetch)} if args.prefetch else {}
        bench.start("fms", ("high",), args.processes, args.threads, **extra)
        bench.wait_ready("fms")
        report["fms_drain"] = max((bench.drain("fms", args.n) for _ in range(args.repeat)),
                                  key=lambda d: d["tasks_per_s"])
        bench.stop_all()

        # Latency runs on the process tree's layout: worker-high = cores x 1 thread, worker-ai = 1 x 1.
        bench.r.flushall()
        bench.start("fms", ("high",), report["cores"], 1, **extra)
        bench.start("fms", ("ai",), 1, 1)
        bench.wait_ready("fms")
        report["fms_idle_latency"] = bench.latency("fms", args.samples)
        bench.saturate_ai(0.5, 200)
        time.sleep(1.0)
        report["fms_latency_ai_saturated"] = bench.latency("fms", args.samples)
        report["ai_backlog_during_run"] = int(bench.r.llen("dramatiq:ai"))
    finally:
        bench.stop_all()
        if server is not None:
            server.terminate()
            server.wait(10)
    report["fms_vs_raw_drain"] = round(report["fms_drain"]["tasks_per_s"] / report["raw_drain"]["tasks_per_s"], 3)
    report["saturated_vs_idle_p95"] = round(
        report["fms_latency_ai_saturated"]["p95_ms"] / max(report["fms_idle_latency"]["p95_ms"], 0.001), 2)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__" and not MODE:
    main()
