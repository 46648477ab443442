"""Webhooks end to end: outbox → relay → fan-out → signed delivery, on real Redis, worker and HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from app.services import Services
from app.util import now_iso
from app.webhooks.sender import parse_retry_after
from app.webhooks.ssrf import UnsafeTarget, check_target, parse_nets
from tests.conftest import Api
from tests.helpers import drain_queues, wait_for

ANSWERS = {"name": "Ada", "email": "ada@example.com", "phone": "555"}


def add_hook(api: Api, form_id: str, url: str, **extra: Any) -> dict[str, Any]:
    resp = api.post(f"/api/v1/forms/{form_id}/webhooks", {"url": url, **extra})
    assert resp.status_code == 201, resp.json
    return resp.json


def submit(api: Api, form_id: str, answers: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = api.post(f"/api/v1/forms/{form_id}/submissions", {"answers": answers or ANSWERS})
    assert resp.status_code == 201, resp.json
    return resp.json


def drain(relay: Any) -> int:
    moved = 0
    while n := relay.run_once():
        moved += n
    return moved


# pure logic ------------------------------------------------------------------------------------------
def test_ssrf_guard_refuses_private_loopback_and_link_local() -> None:
    for url in ("http://127.0.0.1/x", "http://10.1.2.3/", "http://192.168.0.1/", "http://169.254.169.254/latest",
                "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://localhost:6379/", "ftp://example.com/",
                "http:///nohost"):
        with pytest.raises(UnsafeTarget):
            check_target(url)
    assert check_target("http://127.0.0.1:9/x", allow_nets=parse_nets("127.0.0.0/8"))
    assert check_target("http://10.0.0.1/", allow_private=True)
    with pytest.raises(UnsafeTarget):
        check_target("http://10.0.0.1/", allow_nets=parse_nets("127.0.0.0/8"))


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)


# API ---------------------------------------------------------------------------------------------------
def test_create_refuses_unsafe_target_with_422(api: Api, form: dict[str, Any]) -> None:
    resp = api.post(f"/api/v1/forms/{form['id']}/webhooks", {"url": "http://169.254.169.254/latest/meta-data"})
    assert resp.status_code == 422 and resp.json["error"]["code"] == "unsafe_webhook_target"
    assert resp.json["error"]["details"][0]["pointer"] == "/url"


def test_endpoint_crud_shows_secret_to_managers_only(api: Api, svc: Services, form: dict[str, Any],
                                                      receiver: Any) -> None:
    from tests.conftest import grant, make_user_key

    hook = add_hook(api, form["id"], receiver.url + "/a", events=["submission.created"])
    assert hook["secret"].startswith("whsec_") and hook["active"] is True
    listed = api.get(f"/api/v1/forms/{form['id']}/webhooks").json["items"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    viewer = api.as_(make_user_key(svc, "vera", "viewer", "read"))
    assert viewer.get(f"/api/v1/forms/{form['id']}/webhooks").status_code == 404  # not shared: unseen
    grant(api, svc, form["id"], "vera", "viewer")
    assert viewer.get(f"/api/v1/forms/{form['id']}/webhooks").status_code == 403  # seen, not managed
    assert api.patch(f"/api/v1/webhooks/{hook['id']}", {"active": False}).json["active"] is False
    assert api.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    assert api.get(f"/api/v1/webhooks/{hook['id']}").status_code == 404


# delivery -------------------------------------------------------------------------------------------------
def test_submission_webhook_is_signed_and_verifies_with_standardwebhooks(
        api: Api, form: dict[str, Any], receiver: Any, relay: Any, worker: Any) -> None:
    hook = add_hook(api, form["id"], receiver.url + "/hook")
    full = add_hook(api, form["id"], receiver.url + "/full", include_sensitive=True)
    sub = submit(api, form["id"])
    assert drain(relay) == 1
    [req] = wait_for(lambda: receiver.received("/hook"), what="webhook delivery")
    payload = Webhook(hook["secret"]).verify(req["body"], req["headers"])
    assert payload["type"] == "submission.created" and payload["data"]["id"] == sub["id"]
    assert payload["data"]["answers"]["name"] == "Ada"
    assert payload["data"]["answers"]["phone"] == "[redacted]", "sensitive fields are masked by default"
    [full_req] = wait_for(lambda: receiver.received("/full"), what="the opted-in endpoint")
    assert Webhook(full["secret"]).verify(full_req["body"], full_req["headers"])["data"]["answers"]["phone"] == "555"
    with pytest.raises(Exception):  # noqa: B017 - any verification error will do
        Webhook(hook["secret"]).verify(req["body"].replace(b"Ada", b"Eve"), req["headers"])
    deliveries = wait_for(lambda: [d for d in api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["items"]
                                   if d["state"] == "succeeded"], what="delivery log")
    assert deliveries[0]["last_status"] == 200 and deliveries[0]["attempts"] == 1
    assert req["headers"]["webhook-id"] == deliveries[0]["event_id"]


def test_payload_is_the_snapshot_at_event_time(api: Api, form: dict[str, Any], receiver: Any, relay: Any,
                                               broker: Any, worker: Any) -> None:
    add_hook(api, form["id"], receiver.url + "/snap", events=["submission.created"])
    sub = submit(api, form["id"])
    assert api.patch(f"/api/v1/submissions/{sub['id']}", {"answers": {"name": "Changed"}}).status_code == 200
    drain(relay)  # created + updated events; the hook only takes "created"
    drain_queues(broker, worker)  # every fan-out and delivery done: a second (wrong) one would be in
    [req] = receiver.received("/snap")
    assert json.loads(req["body"])["data"]["answers"]["name"] == "Ada"


def test_429_with_retry_after_is_honoured_then_delivered(api: Api, form: dict[str, Any], receiver: Any,
                                                          relay: Any, worker: Any) -> None:
    receiver.script("/busy", [(429, {"Retry-After": "1"}), (503, {}), (200, {})])
    hook = add_hook(api, form["id"], receiver.url + "/busy")
    submit(api, form["id"])
    drain(relay)
    reqs = wait_for(lambda: len(receiver.received("/busy")) >= 3 and receiver.received("/busy"), timeout=10,
                    what="three attempts")
    assert reqs[1]["at"] - reqs[0]["at"] >= 0.95, "Retry-After: 1 was honoured"
    assert len({r["headers"]["webhook-id"] for r in reqs}) == 1, "same webhook-id on every retry"
    d = wait_for(lambda: [d for d in api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["items"]
                          if d["state"] == "succeeded"], what="success")[0]
    assert d["attempts"] == 3


def test_4xx_is_not_retried_and_manual_redelivery_sends_again(api: Api, form: dict[str, Any], receiver: Any,
                                                               relay: Any, worker: Any) -> None:
    receiver.script("/gone", [(410, {})])
    hook = add_hook(api, form["id"], receiver.url + "/gone")
    submit(api, form["id"])
    drain(relay)
    failed = wait_for(lambda: api.get(f"/api/v1/webhooks/{hook['id']}/deliveries?state=failed").json["items"],
                      what="failed delivery")
    assert failed[0]["last_status"] == 410 and failed[0]["attempts"] == 1
    assert len(receiver.received("/gone")) == 1
    resp = api.post(f"/api/v1/deliveries/{failed[0]['id']}/redeliver")
    assert resp.status_code == 202
    wait_for(lambda: api.get(f"/api/v1/webhooks/{hook['id']}/deliveries?state=succeeded").json["items"],
             what="redelivered")
    assert len(receiver.received("/gone")) == 2


def test_endpoint_is_disabled_after_n_failures_owner_told_and_bulk_redelivery(
        api: Api, svc: Services, form: dict[str, Any], receiver: Any, relay: Any, worker: Any, settings: Any,
        smtp: Any) -> None:
    from dataclasses import replace

    from tasks import runtime

    runtime.use(replace(settings, smtp_host="127.0.0.1", smtp_port=smtp.port, alert_email="ops@example.com"), svc)
    receiver.script("/bad", [(400, {})] * 3)  # disabled after 3 failures over 0 s in these tests
    hook = add_hook(api, form["id"], receiver.url + "/bad")
    for _ in range(3):
        submit(api, form["id"])
    drain(relay)
    disabled = wait_for(lambda: not api.get(f"/api/v1/webhooks/{hook['id']}").json["active"]
                        and api.get(f"/api/v1/webhooks/{hook['id']}").json, what="auto-disable")
    assert "3 failed attempts in a row" in disabled["disabled_reason"]
    # the audit row is written just after the webhook row (two writes): wait for it, then check it exactly
    audit = wait_for(lambda: [a for a in svc.store.list_audit(0, 1000) if a["action"] == "webhook.disabled"],
                     what="the webhook.disabled audit record")
    assert [a["target"] for a in audit] == [hook["id"]]
    [mail] = wait_for(lambda: smtp.messages, what="the owner's e-mail")
    assert mail.rcpt_tos == ["ops@example.com"] and hook["id"] in mail.content.decode()
    submit(api, form["id"])  # a disabled endpoint gets no delivery
    drain(relay)
    drain_queues(relay.broker, worker)
    items = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["items"]
    assert [d["state"] for d in items] == ["failed"] * 3
    assert len(receiver.received("/bad")) == 3, "no request after the endpoint was disabled"
    assert api.post(f"/api/v1/webhooks/{hook['id']}/redeliver", {"state": "failed"}).status_code == 409
    api.patch(f"/api/v1/webhooks/{hook['id']}", {"active": True})
    resp = api.post(f"/api/v1/webhooks/{hook['id']}/redeliver", {"state": "failed"})
    assert resp.status_code == 202 and resp.json["count"] == 3
    wait_for(lambda: len(api.get(f"/api/v1/webhooks/{hook['id']}/deliveries?state=succeeded").json["items"]) == 3,
             what="bulk redelivery")


def test_delivery_to_a_refused_target_fails_without_a_request(api: Api, svc: Services, form: dict[str, Any],
                                                              receiver: Any, relay: Any, worker: Any,
                                                              settings: Any) -> None:
    hook = add_hook(api, form["id"], receiver.url + "/ssrf")
    object.__setattr__(settings, "webhook_allow_nets", "")  # the allow-list is removed after creation
    submit(api, form["id"])
    drain(relay)
    d = wait_for(lambda: api.get(f"/api/v1/webhooks/{hook['id']}/deliveries?state=failed").json["items"],
                 what="refused delivery")[0]
    assert d["last_error"].startswith("refused:") and receiver.received("/ssrf") == []


def test_fanout_twice_delivers_once(api: Api, svc: Services, form: dict[str, Any], receiver: Any, broker: Any,
                                    worker: Any) -> None:
    from tasks import broker as tb
    from tasks.webhooks import fanout

    add_hook(api, form["id"], receiver.url + "/once")
    submit(api, form["id"])
    [event] = svc.store.pending_events(10)
    tb.send(fanout, event)
    tb.send(fanout, event)  # the relay crashed after enqueue, before marking sent
    drain_queues(broker, worker)  # both fan-outs and what they enqueued have run
    assert len(receiver.received("/once")) == 1


def test_circuit_breaker_opens_per_target_and_shows_in_metrics(api: Api, svc: Services, form: dict[str, Any],
                                                               receiver: Any, relay: Any, worker: Any,
                                                               settings: Any) -> None:
    from tasks import breaker
    from tasks.metrics import BREAKER_STATE

    object.__setattr__(settings, "breaker_fail_max", 2)
    object.__setattr__(settings, "breaker_reset", 300.0)  # postponed beyond a prompt: the sweep's job
    breaker.reset_all()
    receiver.script("/down", [(503, {})] * 50)
    hook = add_hook(api, form["id"], receiver.url + "/down")
    submit(api, form["id"])
    drain(relay)
    target = breaker.target_of(hook["url"])
    wait_for(lambda: BREAKER_STATE.labels(target)._value.get() == 2, what="breaker to open")
    drain_queues(relay.broker, worker)  # every retry ran, and hit the open breaker, not the receiver
    assert len(receiver.received("/down")) == 2
    d = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["items"][0]
    d = wait_for(lambda: (lambda x: x["last_error"] == "circuit open" and x)(
        api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json["items"][0]), what="breaker-open retry")
    assert d["state"] == "retrying" and d["last_status"] == 503
    assert d["attempts"] == 2, "the open circuit did not use up an attempt"
    assert d["next_attempt_at"] >= now_iso(299), "it waits for the breaker's reset"
    breaker.reset_all()


def test_a_slow_target_does_not_queue_other_deliveries_behind_its_breaker(receiver: Any, broker: Any) -> None:
    """pybreaker runs a guarded call under its lock: two endpoints on one host (one breaker) were
    delivered one at a time by a worker's threads. Both requests must now be at the receiver at once."""
    import threading

    from tasks import breaker
    from tasks.webhooks import _attempt

    breaker.reset_all()
    hold = 1.5
    receiver.slow(hold)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda p=p: results.append(
        _attempt(f"{receiver.url}/{p}", "whsec_" + "A" * 32, f"msg_{p}", {"p": p}))) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(a.outcome for a in results) == ["ok", "ok"]
    first, second = sorted(r["at"] for r in receiver.received())
    assert second - first < hold, "the second delivery waited for the first one's reply"
    breaker.reset_all()
