"""One run at a time per tracked task, and a crashed run still runs again (tasks.middleware leases).

A copy of a message arriving while another copy runs (the relay can enqueue a
deferred message twice) is skipped; a record left ``running`` by a killed
worker is not a reason to skip: Dramatiq requeues that worker's message and it
must run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis

from app.services import Services
from app.settings import Settings
from app.util import now_iso
from tasks import broker as tb
from tasks.deferred import deferred_event, deferred_message
from tasks.middleware import LEASE_PREFIX
from tests.helpers import wait_for
from tests.tasks.actors import gated


@pytest.fixture
def r(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url)


def _task(svc: Services, task_id: str, state: str) -> dict[str, Any] | None:
    rec = svc.store.get_task(task_id)
    return rec if rec is not None and rec["state"] == state else None


@pytest.fixture
def start_worker(broker: Any) -> Iterator[Any]:
    """An in-process worker started when the test says (after it has set the stage)."""
    started: list[dramatiq.Worker] = []

    def start() -> dramatiq.Worker:
        if not getattr(broker, "_booted", False):  # what the dramatiq CLI does once per process
            broker.emit_after("process_boot")
            broker._booted = True
        w = dramatiq.Worker(broker, worker_threads=2, worker_timeout=200)
        w.start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop(timeout=5000)


def test_a_copy_that_arrives_while_the_task_runs_is_skipped(start_worker: Any, broker: Any, svc: Services,
                                                             r: redis.Redis) -> None:
    start_worker()
    msg = tb.send(gated, "dup")
    wait_for(lambda: r.get("test:gated:dup") == b"1", 10, what="the first run to start")
    assert r.exists(LEASE_PREFIX + msg.message_id)
    copy = broker.enqueue(deferred_message(deferred_event(msg)))  # the relay's second copy of the same message
    assert copy.message_id == msg.message_id
    queue = f"{broker.namespace}:default"  # (the worker may take the copy at once: no count of 2 to assert)
    wait_for(lambda: r.hlen(f"{queue}.msgs") == 1 and r.llen(queue) == 0, 10, what="the copy to be consumed")
    assert r.get("test:gated:dup") == b"1", "the copy ran beside the first run"
    assert svc.store.get_task(msg.message_id)["state"] == "running"  # the skipped copy left the record alone
    r.rpush("test:gate:dup", "go")
    rec = wait_for(lambda: _task(svc, msg.message_id, "succeeded"), 10, what="the task to succeed")
    assert rec["result"] == 1 and rec["attempts"] == 1
    assert not r.exists(LEASE_PREFIX + msg.message_id)  # released when the run ended


def test_a_record_left_running_by_a_dead_worker_does_not_stop_the_redelivery(start_worker: Any, svc: Services,
                                                                             r: redis.Redis) -> None:
    r.rpush("test:gate:stale", "go")
    msg = tb.send(gated, "stale")
    svc.store.update_task(msg.message_id, {"state": "running", "attempts": 1, "started_at": now_iso()})
    start_worker()
    rec = wait_for(lambda: _task(svc, msg.message_id, "succeeded"), 10, what="the redelivered task to run")
    assert rec["result"] == 1 and r.get("test:gated:stale") == b"1"


def test_a_run_killed_with_its_worker_runs_again_on_another(broker: Any, svc: Services, r: redis.Redis,
                                                            spawn_worker: Any) -> None:
    """kill -9 mid-task: its lease lapses before Dramatiq hands the unacked message to a live worker."""
    env = {"FMS_BROKER_HEARTBEAT_TIMEOUT_MS": "2000", "FMS_WORKER_HEARTBEAT_TTL": "1"}
    first = spawn_worker(queues=("default",), threads=1, **env)
    msg = tb.send(gated, "killed")
    wait_for(lambda: r.get("test:gated:killed") == b"1", 30, what="the first run to start")
    first.kill()
    spawn_worker(queues=("default",), threads=1, **env)
    wait_for(lambda: r.get("test:gated:killed") == b"2", 40, interval=0.2, what="the requeued message to run")
    assert svc.store.get_task(msg.message_id)["state"] == "running"
    r.rpush("test:gate:killed", "go")  # only now: a dying process's blocked pop could have taken it
    rec = wait_for(lambda: _task(svc, msg.message_id, "succeeded"), 20, what="the second run to succeed")
    assert rec["result"] == 2 and rec["attempts"] == 1
