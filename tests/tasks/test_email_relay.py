"""E-mail over real SMTP (aiosmtpd), the relay through a Redis outage, request ids, heartbeats, metrics."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis

from app.services import Services
from tasks import broker as tb
from tests.conftest import Api
from tests.helpers import RedisServer, drain_queues, wait_for
from tests.tasks.test_webhooks import ANSWERS, drain, submit


def test_submission_notification_is_mailed_once(api: Api, svc: Services, settings: Any, smtp: Any, relay: Any,
                                                worker: Any) -> None:
    from tasks import runtime

    runtime.use(replace(settings, smtp_host="127.0.0.1", smtp_port=smtp.port), svc)
    resp = api.post("/api/v1/forms", {"title": "Intake", "schema": {"type": "object", "properties": {
        "name": {"type": "string"}, "phone": {"type": "string"}}}, "sensitive": ["phone"],
        "settings": {"notify_emails": ["ops@example.com", "lead@example.com"]}})
    form = resp.json
    submit(api, form["id"], {"name": "Ada", "phone": "555-0100"})
    [event] = svc.store.pending_events(10)
    drain(relay)
    [mail] = wait_for(lambda: smtp.messages, what="an e-mail")
    assert sorted(mail.rcpt_tos) == ["lead@example.com", "ops@example.com"]
    text = mail.content.decode()
    assert "New submission: Intake" in text and "Ada" in text
    assert "555-0100" not in text and "[redacted]" in text, "sensitive fields never leave by e-mail"
    from tasks.email import submission_created

    tb.send(submission_created, event)  # a redelivered message
    drain_queues(relay.broker, worker)  # the redelivered message ran (and found the mail sent)
    assert svc.store.is_done(f"email:{event['id']}")
    assert len(smtp.messages) == 1


def test_smtp_down_is_retryable_and_recorded(svc: Services, settings: Any, broker: Any, worker: Any) -> None:
    from tasks import runtime
    from tasks.email import send_mail
    from tests.helpers import free_port

    runtime.use(replace(settings, smtp_host="127.0.0.1", smtp_port=free_port()), svc)
    msg = tb.send(send_mail, ["x@example.com"], "s", "b", "k1")
    rec = wait_for(lambda: (svc.store.get_task(msg.message_id) or {}).get("state") == "dead"
                   and svc.store.get_task(msg.message_id), timeout=15, what="dead after retries")
    assert rec["attempts"] == 4 and rec["error"]["retryable"] is True


def test_relay_keeps_events_while_redis_is_down_and_catches_up(tmp_path: Path, admin_token: str) -> None:
    """Own redis-server, stopped mid-test: the API still answers 201; the relay delivers afterwards."""
    from app.factory import create_app
    from tasks.broker import configure
    from tasks.relay import Relay
    from tests.conftest import SAMPLE_SCHEMA, make_settings

    server = RedisServer(tmp_path / "own-redis", appendonly=True).start()
    try:
        settings = make_settings(tmp_path / "own", server.url)
        app = create_app(settings)
        svc = app.extensions["fms"]
        broker = configure(settings, svc)
        user = svc.auth.create_user("boss", "correct horse battery", "admin", actor="t")
        key, _ = svc.auth.create_api_key(user["id"], "manage", None, "t", actor="t")
        api = Api(app.test_client(), key)
        form = api.post("/api/v1/forms", {"title": "T", "schema": SAMPLE_SCHEMA}).json
        relay = Relay(svc.store, broker)
        server.stop()
        for _ in range(3):
            resp = api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": ANSWERS})
            assert resp.status_code == 201
        try:
            relay.run_once()
            raise AssertionError("the relay must fail while Redis is down")
        except redis.ConnectionError:
            pass
        assert len(svc.store.pending_events(10)) == 3, "nothing lost, nothing marked sent"
        server.start()  # same port, same AOF directory
        wait_for(lambda: relay.run_once() == 3, what="relay to catch up")
        assert svc.store.pending_events(10) == []
        # fan-out, e-mail and the embed hook per created event
        assert broker.client.llen("dramatiq:default") == 9
    finally:
        server.stop()


def test_request_id_travels_from_api_to_the_worker_log(api: Api, svc: Services, settings: Any, broker: Any,
                                                      spawn_worker: Any) -> None:
    """A real ``dramatiq tasks.worker`` process logs the task's lines with the API request's id."""
    from app.observability import context
    from tests.tasks.actors import echo

    token = context.request_id.set("req-abc-123")  # what the API's before_request does
    try:
        msg = tb.send(echo, "traced")
    finally:
        context.request_id.reset(token)
    wp = spawn_worker(queues=("high",), threads=1)
    rec = wait_for(lambda: (svc.store.get_task(msg.message_id) or {}).get("state") == "succeeded"
                   and svc.store.get_task(msg.message_id), timeout=20, what="subprocess worker to run it")
    assert rec["request_id"] == "req-abc-123"
    lines = wait_for(lambda: [ln for ln in wp.output().splitlines() if "echo running" in ln], what="log line")
    assert len(lines) == 1, "one JSON line per event (no second plain-text handler)"
    entry = json.loads(lines[0])
    assert entry["request_id"] == "req-abc-123" and entry["value"] == "traced"
    assert api.get(f"/api/v1/tasks/{msg.message_id}").json["request_id"] == "req-abc-123"


def test_workers_heartbeat_reaches_ready_and_metrics_are_shared(api: Api, client: Any, settings: Any, svc: Services,
                                                                broker: Any, spawn_worker: Any) -> None:
    from tasks.heartbeat import live_workers, ready_probe
    from tests.tasks.actors import echo

    assert ready_probe(svc) is False
    wp = spawn_worker(processes=2, threads=1)
    r = redis.Redis.from_url(settings.redis_url)
    workers = wait_for(lambda: len(live_workers(r)) == 2 and live_workers(r), timeout=20, what="two heartbeats")
    assert {w["pid"] for w in workers} and all("ai" in w["queues"] for w in workers)
    assert ready_probe(svc) is True
    msg = tb.send(echo, "metrics")
    wait_for(lambda: (svc.store.get_task(msg.message_id) or {}).get("state") == "succeeded", timeout=20,
             what="task")
    files = wait_for(lambda: list(settings.prometheus_dir.glob("*.db")), what="multiprocess files")
    assert files, "workers write into the shared multiprocess directory, no port"
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(settings.prometheus_dir))
    text = generate_latest(registry).decode()
    assert 'fms_task_outcomes_total{actor="validate.echo",outcome="succeeded",queue="high"}' in text
    assert "fms_task_queue_latency_seconds_bucket" in text and "fms_queue_depth" in text
    wp.stop()
    wait_for(lambda: live_workers(r) == [], what="heartbeats removed on shutdown")
