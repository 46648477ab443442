"""Work started through the API while Redis is down waits in the outbox instead of a 503.

Each test runs its own redis-server (AOF on) and stops it mid-test, then
starts it again on the same port and directory; a real in-process worker
runs what the relay enqueued afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis

from app.tasks_api.service import TaskService
from tests.conftest import SAMPLE_SCHEMA, Api, make_settings
from tests.helpers import RedisServer, wait_for
from tests.tasks.conftest import FAST
from tests.tasks.test_webhooks import ANSWERS, add_hook


@pytest.fixture
def own(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An app, broker and relay on a redis-server of this test's own."""
    from app.factory import create_app
    from tasks.broker import configure
    from tasks.relay import Relay

    server = RedisServer(tmp_path / "own-redis", appendonly=True).start()
    settings = make_settings(tmp_path / "own", server.url, **FAST)
    app = create_app(settings)
    svc = app.extensions["fms"]
    broker = configure(settings, svc)
    import tasks.email
    import tasks.webhooks  # noqa: F401 - declare the actors on this broker
    import tests.tasks.actors  # noqa: F401

    user = svc.auth.create_user("boss", "correct horse battery", "admin", actor="t")
    key, _ = svc.auth.create_api_key(user["id"], "manage", None, "t", actor="t")
    yield {"server": server, "svc": svc, "broker": broker, "api": Api(app.test_client(), key),
           "relay": Relay(svc.store, broker, batch=settings.relay_batch, interval=settings.relay_interval)}
    server.stop()


def _worker(broker: Any) -> dramatiq.Worker:
    if not getattr(broker, "_booted", False):
        broker.emit_after("process_boot")
        broker._booted = True
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=200)
    worker.start()
    return worker


def _relay_fails_while_down(relay: Any) -> None:
    with pytest.raises(redis.ConnectionError):
        relay.run_once()


def test_redelivery_while_redis_is_down_is_accepted_and_sent_when_it_is_back(own: dict[str, Any],
                                                                           receiver: Any) -> None:
    api, svc, relay, server = own["api"], own["svc"], own["relay"], own["server"]
    receiver.script("/r", [(410, {})])  # the first attempt fails for good
    form = api.post("/api/v1/forms", {"title": "T", "schema": SAMPLE_SCHEMA}).json
    hook = add_hook(api, form["id"], receiver.url + "/r")
    assert api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": ANSWERS},
                    headers={"X-Request-ID": "submit-1"}).status_code == 201
    assert relay.run_once() == 1
    worker = _worker(own["broker"])
    try:
        [failed] = wait_for(lambda: api.get(f"/api/v1/webhooks/{hook['id']}/deliveries?state=failed").json["items"],
                            what="the failed delivery")
    finally:
        worker.stop(timeout=5000)

    server.stop()
    resp = api.post(f"/api/v1/deliveries/{failed['id']}/redeliver", headers={"X-Request-ID": "redeliver-1"})
    assert resp.status_code == 202, resp.json
    [event] = svc.store.pending_events(10)
    assert event["topic"] == "task.enqueue" and event["request_id"] == "redeliver-1"
    _relay_fails_while_down(relay)

    server.start()  # same port, same AOF directory
    wait_for(lambda: relay.run_once() == 1, what="the relay to enqueue the redelivery")
    assert svc.store.pending_events(10) == []
    worker = _worker(own["broker"])
    try:
        wait_for(lambda: api.get(f"/api/v1/webhooks/{hook['id']}/deliveries?state=succeeded").json["items"],
                 what="the redelivery to succeed")
    finally:
        worker.stop(timeout=5000)
    first, again = receiver.received("/r")
    assert again["headers"]["webhook-id"] == first["headers"]["webhook-id"]
    # The header names the request behind the event, on every attempt; the redelivery's own id
    # is in its task's record and log lines.
    assert first["headers"]["x-request-id"] == again["headers"]["x-request-id"] == "submit-1"


def test_a_deferred_task_is_queued_meanwhile_and_a_cancel_sticks(own: dict[str, Any]) -> None:
    """The record exists (``queued``) while the message waits; cancelled meanwhile, it never runs."""
    from tasks.broker import message_for
    from tasks.deferred import enqueue_or_defer
    from tests.tasks.actors import echo

    svc, broker, relay, server = own["svc"], own["broker"], own["relay"], own["server"]
    server.stop()
    kept, dropped = message_for(echo, "kept"), message_for(echo, "dropped")
    assert enqueue_or_defer(broker, svc.store, [kept, dropped]) is False
    jobs = TaskService(svc.store)
    assert [jobs.get(m.message_id)["state"] for m in (kept, dropped)] == ["queued", "queued"]
    assert jobs.cancel(dropped.message_id)["state"] == "cancelled"
    _relay_fails_while_down(relay)

    server.start()
    wait_for(lambda: relay.run_once() == 2, what="the relay to enqueue both")
    assert jobs.get(dropped.message_id)["state"] == "cancelled", "enqueueing did not revive it"
    worker = _worker(broker)
    try:
        done = wait_for(lambda: jobs.get(kept.message_id)["state"] == "succeeded" and jobs.get(kept.message_id),
                        what="the kept task to run")
        broker.join("high", timeout=10_000)
    finally:
        worker.stop(timeout=5000)
    assert done["result"] == {"echo": "kept"} and done["attempts"] == 1
    assert jobs.get(dropped.message_id)["state"] == "cancelled"
    assert server.client().lrange("test:echo", 0, -1) == [b"kept"]


def test_a_retry_while_redis_is_down_is_accepted_and_runs_when_it_is_back(own: dict[str, Any]) -> None:
    from tasks.broker import send
    from tests.tasks.actors import flaky

    api, svc, broker, relay, server = own["api"], own["svc"], own["broker"], own["relay"], own["server"]
    msg = send(flaky, "r1", 1, "permanent")  # fails once for good, then succeeds
    worker = _worker(broker)
    try:
        wait_for(lambda: svc.store.get_task(msg.message_id)["state"] == "failed", what="the first run to fail")
    finally:
        worker.stop(timeout=5000)

    server.stop()
    resp = api.post(f"/api/v1/tasks/{msg.message_id}/retry")
    assert resp.status_code == 202 and resp.json["state"] == "queued", resp.json
    assert api.get(f"/api/v1/tasks/{msg.message_id}").json["state"] == "queued"
    _relay_fails_while_down(relay)

    server.start()
    wait_for(lambda: relay.run_once() == 1, what="the relay to enqueue the retry")
    worker = _worker(broker)
    try:
        done = wait_for(lambda: (lambda r: r["state"] == "succeeded" and r)(svc.store.get_task(msg.message_id)),
                        what="the retried task to succeed")
    finally:
        worker.stop(timeout=5000)
    assert done["result"] == "ok after 2" and done["attempts"] == 1
