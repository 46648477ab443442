"""Routing, retries, dead + replay, cancel, time limit, progress, request ids — on real Redis and workers."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
import redis

from app.services import Services
from tasks import broker as tb
from tasks.middleware import backoff_ms
from tasks.routing import ROUTES, parse_time_limits, queue_for
from tests.conftest import Api
from tests.helpers import wait_for


def task_state(svc: Services, task_id: str, *states: str) -> Any:
    rec = svc.store.get_task(task_id)
    return rec if rec is not None and rec["state"] in states else None


# pure logic --------------------------------------------------------------------------------
def test_routing_table_by_prefix() -> None:
    assert queue_for("ai.fill") == "ai"
    assert queue_for("webhook.deliver") == "default"
    assert queue_for("email.notify") == "default"
    assert queue_for("analytics.export") == "analytics"
    assert queue_for("validate.echo") == "high"
    assert queue_for("something.else") == "default"
    assert len({p for p, _ in ROUTES}) == len(ROUTES), "one row per prefix"


def test_time_limits_parse_and_reject_unknown_queue() -> None:
    assert parse_time_limits("high=1.5,ai=300") == {"high": 1500, "ai": 300_000}
    with pytest.raises(ValueError):
        parse_time_limits("nope=3")


def test_backoff_schedule_doubles_with_bounded_jitter() -> None:
    rng = random.Random(7)
    for retries, step in [(0, 1000), (1, 2000), (2, 4000), (3, 8000), (10, 60_000)]:
        delays = [backoff_ms(retries, 1000, 60_000, rng) for _ in range(200)]
        assert min(delays) >= step // 2 and max(delays) <= step
        assert max(delays) - min(delays) > step // 4, "jitter spreads retries out"


def test_actors_land_on_their_queue(broker: Any) -> None:
    assert broker.get_actor("validate.echo").queue_name == "high"
    assert broker.get_actor("ai.slow").queue_name == "ai"
    assert broker.get_actor("webhook.deliver").queue_name == "default"
    assert broker.get_actor("ai.slow").options["time_limit"] == 2000  # the ai queue's limit from settings
    assert broker.get_actor("validate.echo").options["time_limit"] == 30_000


def test_enqueue_writes_a_record_and_the_message_to_the_routed_redis_queue(broker: Any, svc: Services) -> None:
    from tests.tasks.actors import echo

    msg = tb.send(echo, "hi", created_by="u1")
    rec = svc.store.get_task(msg.message_id)
    assert rec["state"] == "queued" and rec["queue"] == "high" and rec["created_by"] == "u1"
    assert broker.client.llen("dramatiq:high") == 1
    assert broker.client.llen("dramatiq:default") == 0


# real worker -----------------------------------------------------------------------------------
def test_task_runs_and_succeeds_with_result(worker: Any, svc: Services, settings: Any) -> None:
    from tests.tasks.actors import echo

    msg = tb.send(echo, "hello")
    rec = wait_for(lambda: task_state(svc, msg.message_id, "succeeded"), what="echo to succeed")
    assert rec["result"] == {"echo": "hello"} and rec["attempts"] == 1 and rec["progress"] == 100.0
    assert rec["started_at"] >= rec["enqueued_at"] and rec["finished_at"] >= rec["started_at"]


def test_retryable_error_is_retried_with_backoff_then_succeeds(worker: Any, svc: Services, settings: Any) -> None:
    from tests.tasks.actors import flaky

    msg = tb.send(flaky, "r1", 2, "connection")
    rec = wait_for(lambda: task_state(svc, msg.message_id, "succeeded"), timeout=15, what="flaky to succeed")
    assert rec["attempts"] == 3 and rec["result"] == "ok after 3"
    r = redis.Redis.from_url(settings.redis_url)
    times = [float(t) for t in r.lrange("test:times:r1", 0, -1)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1, f"backoff grows: {gaps}"  # min 100 ms, equal jitter


def test_permanent_error_fails_at_once(worker: Any, svc: Services, settings: Any) -> None:
    from tests.tasks.actors import flaky

    msg = tb.send(flaky, "p1", 5, "permanent")
    rec = wait_for(lambda: task_state(svc, msg.message_id, "failed"), what="permanent failure")
    assert rec["attempts"] == 1 and rec["error"]["retryable"] is False and rec["error"]["type"] == "Permanent"
    assert int(redis.Redis.from_url(settings.redis_url).get("test:attempts:p1")) == 1


def test_exhausted_retries_make_a_dead_task_that_can_be_replayed(worker: Any, svc: Services, api: Api,
                                                                  settings: Any) -> None:
    from tests.tasks.actors import flaky

    msg = tb.send(flaky, "d1", 4, "retryable")  # max_retries=3: four attempts, all fail
    rec = wait_for(lambda: task_state(svc, msg.message_id, "dead"), timeout=15, what="task to die")
    assert rec["attempts"] == 4 and rec["error"]["retryable"] is True
    listed = api.get("/api/v1/tasks?state=dead").json["items"]
    assert [t["id"] for t in listed] == [msg.message_id]
    resp = api.post(f"/api/v1/tasks/{msg.message_id}/retry")
    assert resp.status_code == 202 and resp.json["state"] in {"queued", "running", "succeeded"}
    assert resp.json["attempts"] <= 1 and resp.json["error"] is None
    rec = wait_for(lambda: task_state(svc, msg.message_id, "succeeded"), what="replayed task to succeed")
    assert rec["result"] == "ok after 5" and rec["attempts"] == 1
    assert api.post(f"/api/v1/tasks/{msg.message_id}/retry").status_code == 409


def test_untracked_actor_failure_is_recorded_and_replay_keeps_it_current(worker: Any, svc: Services,
                                                                         api: Api) -> None:
    from tests.tasks.actors import untracked_fail

    msg = tb.send(untracked_fail)
    rec = wait_for(lambda: task_state(svc, msg.message_id, "failed"), what="failure record")
    assert rec["actor"] == "system.untracked_fail" and rec["message"]["actor_name"] == "system.untracked_fail"
    assert api.post(f"/api/v1/tasks/{msg.message_id}/retry").status_code == 202
    again = wait_for(lambda: (lambda r: r["state"] == "failed" and r["finished_at"] > rec["finished_at"] and r)(
        svc.store.get_task(msg.message_id)), what="the replay to be recorded")
    assert again["attempts"] == 1 and again["started_at"] is not None


def test_cancel_queued_task_is_never_run(broker: Any, svc: Services, api: Api, settings: Any) -> None:
    from tests.tasks.actors import echo

    msg = tb.send(echo, "never")
    resp = api.post(f"/api/v1/tasks/{msg.message_id}/cancel")
    assert resp.status_code == 200 and resp.json["state"] == "cancelled"
    import dramatiq

    w = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    w.start()
    try:
        from tests.tasks.actors import echo as echo2

        after = tb.send(echo2, "after")  # runs after the cancelled one on the same queue
        wait_for(lambda: task_state(svc, after.message_id, "succeeded"), what="next task")
    finally:
        w.stop()
    assert redis.Redis.from_url(settings.redis_url).lrange("test:echo", 0, -1) == [b"after"]
    assert svc.store.get_task(msg.message_id)["state"] == "cancelled"
    assert api.post(f"/api/v1/tasks/{msg.message_id}/cancel").status_code == 409


def test_cancel_running_task_and_progress(worker: Any, svc: Services, api: Api, settings: Any) -> None:
    from tests.tasks.actors import slow

    msg = tb.send(slow, "c1", 1.8)  # below the ai time limit (2 s)
    wait_for(lambda: (svc.store.get_task(msg.message_id) or {}).get("progress", 0) > 0, what="progress")
    running = api.get(f"/api/v1/tasks/{msg.message_id}").json
    assert running["state"] == "running" and 0 < running["progress"] < 100 and running["note"].startswith("step")
    resp = api.post(f"/api/v1/tasks/{msg.message_id}/cancel")
    assert resp.status_code == 202 and resp.json["cancel_requested"] is True
    rec = wait_for(lambda: task_state(svc, msg.message_id, "cancelled"), what="running task to stop")
    assert rec["result"] is None


def test_time_limit_per_queue_fails_the_task(worker: Any, svc: Services) -> None:
    from tests.tasks.actors import slow

    msg = tb.send(slow, "t1", 6)  # ai limit is 2 s in these settings
    # a deadline, not the expected time: a loaded 2-core CI box delivers and records slowly
    rec = wait_for(lambda: task_state(svc, msg.message_id, "failed"), timeout=30, what="time limit")
    assert rec["error"]["type"] == "TimeLimitExceeded"
    started, finished = rec["started_at"], rec["finished_at"]
    from app.util import parse_iso

    assert 1.9 <= (parse_iso(finished) - parse_iso(started)).total_seconds() < 5.5  # well before the task's 6 s


def test_task_endpoints_need_identity_and_hide_others_tasks(broker: Any, svc: Services, api: Api) -> None:
    from tests.conftest import make_user_key
    from tests.tasks.actors import echo

    msg = tb.send(echo, "x", created_by="someone-else")
    assert api.as_(None).get(f"/api/v1/tasks/{msg.message_id}").status_code == 401
    viewer = api.as_(make_user_key(svc, "vic", "viewer", "read"))
    assert viewer.get(f"/api/v1/tasks/{msg.message_id}").status_code == 404
    assert viewer.get("/api/v1/tasks").json["items"] == []
    assert api.get(f"/api/v1/tasks/{msg.message_id}").json["id"] == msg.message_id
    assert api.get("/api/v1/tasks?state=bogus").status_code == 400


def test_long_task_is_not_handed_to_another_worker(broker: Any, settings: Any, spawn_worker: Any) -> None:
    """Dramatiq #692: a worker busy for longer than the broker heartbeat timeout must keep its message.

    Broker maintenance runs often here (every poll of this test) with a 2.5 s timeout and a 6 s task; the
    busy worker's broker heartbeat is refreshed by its delay-queue consumer and by the fms Heartbeat
    thread (``FmsRedisBroker.maintain``), so the message is never handed to the idle second worker.
    """
    from tests.tasks.actors import long_task

    env = {"FMS_BROKER_HEARTBEAT_TIMEOUT_MS": "2500", "FMS_QUEUE_PREFETCH": "1"}
    spawn_worker(queues=("default",), threads=1, **env)
    spawn_worker(queues=("default",), threads=1, **env)
    r = redis.Redis.from_url(settings.redis_url)
    from tasks.heartbeat import live_workers

    wait_for(lambda: len(live_workers(r)) == 2, timeout=20, what="two workers")
    tb.send(long_task, "k692", 6.0)

    def done() -> bool:
        broker.maintain("default")  # maintenance as any other broker client may run it, often
        return r.llen("test:long_done:k692") >= 1

    wait_for(done, timeout=20, interval=0.3, what="the long task to finish")
    assert int(r.get("test:long:k692")) == 1, "the message was run by a second worker"
