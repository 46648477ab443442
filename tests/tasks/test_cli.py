"""``fms tasks dead`` and ``fms tasks replay`` as real commands; ``fms relay --once``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.services import Services
from tasks import broker as tb
from tests.helpers import wait_for
from tests.tasks.conftest import worker_env

FMS = str(Path(sys.executable).parent / "fms")


def fms(settings: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FMS, *args], env=worker_env(settings), capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])


def test_dead_tasks_are_listed_and_replayed_from_the_cli(worker: Any, svc: Services, settings: Any) -> None:
    from tests.tasks.actors import flaky

    msg = tb.send(flaky, "cli1", 4, "retryable")
    wait_for(lambda: (svc.store.get_task(msg.message_id) or {}).get("state") == "dead", timeout=15, what="dead")
    out = fms(settings, "tasks", "dead")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == [msg.message_id] and rows[0]["actor"] == "test.flaky"
    out = fms(settings, "tasks", "replay", msg.message_id)
    assert out.returncode == 0, out.stderr
    rec = wait_for(lambda: (svc.store.get_task(msg.message_id) or {}).get("state") == "succeeded"
                   and svc.store.get_task(msg.message_id), what="replayed by the CLI")
    assert rec["result"] == "ok after 5"
    again = fms(settings, "tasks", "replay", msg.message_id)
    assert again.returncode != 0 and "succeeded" in again.stderr


def test_relay_once_moves_pending_events(api: Any, form: dict[str, Any], svc: Services, settings: Any,
                                         broker: Any) -> None:
    assert api.post(f"/api/v1/forms/{form['id']}/submissions",
                    {"answers": {"name": "A", "email": "a@example.com"}}).status_code == 201
    out = fms(settings, "relay", "--once")
    assert out.returncode == 0 and "moved 1 events" in out.stdout, out.stderr
    assert svc.store.pending_events(10) == []
    names = sorted(json.loads(broker.client.hget("dramatiq:default.msgs", mid))["actor_name"]
                   for mid in broker.client.lrange("dramatiq:default", 0, -1))
    assert {"email.submission", "webhook.fanout"} <= set(names), names


def test_relay_counts_into_the_directory_metrics_merges(api: Any, form: dict[str, Any], settings: Any,
                                                        broker: Any) -> None:
    """Started by hand, without PROMETHEUS_MULTIPROC_DIR (the tree's units set their own
    ``<data_dir>/prometheus/relay``): the relay's counters still land in ``<data_dir>/prometheus``,
    which the API's /metrics merges with every process's directory under it."""
    from prometheus_client import multiprocess

    assert api.post(f"/api/v1/forms/{form['id']}/submissions",
                    {"answers": {"name": "A", "email": "a@example.com"}}).status_code == 201
    env = {k: v for k, v in worker_env(settings).items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    out = subprocess.run([FMS, "relay", "--once"], env=env, capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0 and "moved 1 events" in out.stdout, out.stderr
    files = [str(f) for f in (Path(settings.data_dir) / "prometheus").glob("*.db")]
    samples = {(s.name, s.labels.get("topic")): s.value for m in multiprocess.MultiProcessCollector.merge(files)
               for s in m.samples}
    assert samples.get(("fms_relay_events_total", "submission.created")) == 1.0, samples


def test_replay_while_redis_is_down_waits_in_the_outbox(worker: Any, svc: Services, settings: Any,
                                                        broker: Any) -> None:
    """The record is queued again before the enqueue: without the outbox it would wait forever."""
    from tests.helpers import free_port
    from tests.tasks.actors import flaky

    msg = tb.send(flaky, "cli2", 4, "retryable")
    wait_for(lambda: (svc.store.get_task(msg.message_id) or {}).get("state") == "dead", timeout=15, what="dead")
    down = {**worker_env(settings), "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    out = subprocess.run([FMS, "tasks", "replay", msg.message_id], env=down, capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0 and "waits in the outbox" in out.stdout, out.stderr
    assert svc.store.get_task(msg.message_id)["state"] == "queued"
    [event] = [e for e in svc.store.pending_events(100) if e["topic"] == "task.enqueue"]
    assert event["payload"]["message"]["message_id"] == msg.message_id
    moved = fms(settings, "relay", "--once")  # Redis is back (it never left for the worker)
    assert moved.returncode == 0, moved.stderr
    rec = wait_for(lambda: (svc.store.get_task(msg.message_id) or {}).get("state") == "succeeded"
                   and svc.store.get_task(msg.message_id), what="run after the relay moved it")
    assert rec["result"] == "ok after 5"
