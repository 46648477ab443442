"""The webhook retry schedule, circuit-breaker postponement, per-endpoint lanes, disabling and recovery.

Pure rules with an injected clock and random source first; then the store's
claims on both backends; then real Redis, a real Dramatiq worker, real
SQLite and a real HTTP receiver.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dramatiq
import pytest

from app.settings import Settings, SettingsError
from app.util import iso, new_id, now_iso, parse_iso
from app.webhooks.schedule import breaker_wait, next_delay, parse_duration, parse_schedule, should_disable
from app.webhooks.sender import Attempt
from app.webhooks.service import WebhookService
from tests.conftest import Api
from tests.helpers import wait_for

DAY = 86_400.0
ANSWERS = {"name": "Ada", "email": "ada@example.com", "phone": "555"}


class Clock:
    """A settable epoch clock, far from today (nothing may assume the real date)."""

    def __init__(self, start: float = 2_000_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


# the policy, pure -----------------------------------------------------------------------------------
def test_default_schedule_spans_more_than_a_day_in_eight_attempts() -> None:
    steps = parse_schedule(Settings().webhook_retry_schedule)
    assert steps == (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
    assert sum(steps) >= DAY
    assert parse_duration("250ms") == 0.25 and parse_duration("5d") == 5 * DAY and parse_duration("7") == 7.0
    for bad in ("", "5x", "-1s", "1,,2"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def test_bad_schedule_or_disable_setting_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="FMS_WEBHOOK_RETRY_SCHEDULE"):
        Settings.from_env(environ={"FMS_WEBHOOK_RETRY_SCHEDULE": "0,soon"}, dotenv=None)
    with pytest.raises(SettingsError, match="FMS_WEBHOOK_DISABLE_AFTER"):
        Settings.from_env(environ={"FMS_WEBHOOK_DISABLE_AFTER": "15 tries"}, dotenv=None)
    with pytest.raises(SettingsError, match="FMS_WEBHOOK_CONCURRENCY"):
        Settings.from_env(environ={"FMS_WEBHOOK_CONCURRENCY": "0"}, dotenv=None)


def test_next_delay_follows_the_schedule_with_bounded_jitter_and_honours_retry_after() -> None:
    steps = (0.0, 5.0, 300.0)
    rng = random.Random(7)
    assert next_delay(steps, 0, rng=rng) == 0.0
    for _ in range(50):
        assert 5.0 <= next_delay(steps, 1, rng=rng) <= 5.5  # type: ignore[operator]
        assert 300.0 <= next_delay(steps, 2, rng=rng) <= 330.0  # type: ignore[operator]
    assert next_delay(steps, 3, rng=rng) is None, "the schedule is spent"
    assert next_delay(steps, 1, retry_after=120.0, rng=rng) == 120.0, "Retry-After lengthens the wait"
    assert next_delay(steps, 2, retry_after=1.0, rng=rng) >= 300.0, "... but never shortens it"  # type: ignore[operator]


def test_breaker_wait_is_the_rest_of_the_reset_plus_up_to_half_a_reset() -> None:
    rng = random.Random(1)
    waits = [breaker_wait(12.0, 30.0, rng) for _ in range(200)]
    assert min(waits) >= 12.0 and max(waits) <= 27.0
    assert max(waits) - min(waits) > 5.0, "jittered, so a backlog does not come back in one wave"
    assert 0.0 <= breaker_wait(-3.0, 30.0, rng) <= 15.0


def test_a_burst_of_failures_does_not_disable_only_time_and_attempts_together() -> None:
    since = 1_000.0
    assert not should_disable(500, since, since + 60, 10, 5 * DAY), "500 failures in a minute: a burst"
    assert not should_disable(3, since, since + 6 * DAY, 10, 5 * DAY), "days, but too few attempts"
    assert not should_disable(10, None, since + 6 * DAY, 10, 5 * DAY), "not failing"
    assert should_disable(10, since, since + 5 * DAY, 10, 5 * DAY)


# the service on a real SQLite store, with an injected clock ----------------------------------------------
@pytest.fixture
def policy(tmp_path: Path) -> Iterator[tuple[WebhookService, Clock, dict[str, Any]]]:
    from app.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "policy.sqlite3")
    store.migrate()
    clock = Clock()
    settings = Settings(webhook_retry_schedule="0,5s,5m", webhook_disable_after="5d", webhook_disable_min_attempts=4)
    svc = WebhookService(store, settings, clock=clock, rng=random.Random(3))
    at = svc.now()
    hook = {"id": new_id(), "form_id": "f1", "url": "http://receiver.example/h", "secret": "whsec_x", "events": ["*"],
            "created_at": at, "updated_at": at}
    store.create_webhook(hook)
    yield svc, clock, store.get_webhook(hook["id"])
    store.close()


def _delivery(svc: WebhookService, hook: dict[str, Any]) -> dict[str, Any]:
    at = svc.now()
    d, _ = svc.store.put_delivery({"id": new_id(), "endpoint_id": hook["id"], "event_id": new_id(), "form_id": "f1",
                                   "topic": "t", "payload": {"n": 1}, "state": "pending", "created_at": at,
                                   "updated_at": at, "next_attempt_at": at})
    return d


FAIL = Attempt("retry", 503, "HTTP 503: down", 1.0)


def test_a_delivery_walks_the_schedule_then_fails_and_is_never_due_again(policy: Any) -> None:
    svc, clock, hook = policy
    d = _delivery(svc, hook)
    out = svc.record_attempt(d, hook, FAIL)
    assert out.delivery["state"] == "retrying" and out.delivery["attempts"] == 1 and not out.final
    wait = parse_iso(out.delivery["next_attempt_at"]).timestamp() - clock()
    assert 5.0 <= wait <= 5.5
    clock.t += 6
    out = svc.record_attempt(out.delivery, hook, FAIL)
    assert 300.0 <= parse_iso(out.delivery["next_attempt_at"]).timestamp() - clock() <= 330.0
    out = svc.record_attempt(out.delivery, hook, FAIL)
    assert out.final and out.delivery["state"] == "failed" and out.delivery["next_attempt_at"] is None
    assert out.delivery["attempts"] == 3
    assert svc.store.due_endpoints(svc.at(DAY), svc.stale_before()) == []


def test_an_open_circuit_postpones_without_using_an_attempt(policy: Any) -> None:
    svc, clock, hook = policy
    d = svc.record_attempt(_delivery(svc, hook), hook, FAIL).delivery
    later = svc.postpone(d, 40.0, "circuit open")
    assert later["attempts"] == 1 and later["state"] == "retrying" and later["last_error"] == "circuit open"
    assert parse_iso(later["next_attempt_at"]).timestamp() == pytest.approx(clock() + 40.0, abs=0.01)


def test_endpoint_is_disabled_only_after_days_of_failing_and_enough_attempts(policy: Any) -> None:
    svc, clock, hook = policy
    for _ in range(20):  # a burst: 20 failures within seconds
        assert not svc.record_attempt(_delivery(svc, hook), hook, FAIL).disabled
        clock.t += 0.1
    assert svc.store.get_webhook(hook["id"])["active"] == 1
    assert svc.record_attempt(_delivery(svc, hook), hook, Attempt("ok", 200, None, 1.0)).recovered
    assert svc.store.get_webhook(hook["id"])["failing_since"] is None, "a success ends the streak"
    svc.record_attempt(_delivery(svc, hook), hook, FAIL)  # one event the receiver rejects between successes
    assert not svc.record_attempt(_delivery(svc, hook), hook, Attempt("ok", 200, None, 1.0)).recovered, (
        "not an outage: what waits keeps its schedule")
    for _ in range(3):
        svc.record_attempt(_delivery(svc, hook), hook, FAIL)
    clock.t += 5 * DAY
    assert svc.record_attempt(_delivery(svc, hook), hook, FAIL).disabled, "a 4th attempt, 5 days on: off"
    row = svc.store.get_webhook(hook["id"])
    assert row["active"] == 0 and "4 failed attempts in a row" in row["disabled_reason"]


# the store's claims, both backends --------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "mongomock"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        from app.store.sqlite import SQLiteStore

        s: Any = SQLiteStore(tmp_path / "claims.sqlite3")
    else:
        import mongomock

        from app.store.mongo import MongoStore

        s = MongoStore(mongomock.MongoClient()["fms_claims_test"])
    s.migrate()
    yield s
    s.close()


def _at(t: float) -> str:
    return iso(datetime.fromtimestamp(t, UTC))


def test_lane_claims_oldest_due_first_within_the_endpoint_limit(store: Any) -> None:
    t0 = 2_000_000_000.0
    at = _at(t0)
    hook = {"id": new_id(), "form_id": "f", "url": "http://x", "secret": "s", "events": ["*"], "created_at": at,
            "updated_at": at}
    store.create_webhook(hook)
    ids = []
    for i in range(5):
        created = _at(t0 + i)
        d = {"id": new_id(), "endpoint_id": hook["id"], "event_id": f"e{i}", "form_id": "f", "topic": "t",
             "payload": {}, "state": "retrying", "created_at": created, "updated_at": created,
             "next_attempt_at": created}
        store.put_delivery(d)
        ids.append(d["id"])
    store.update_delivery(ids[0], {"next_attempt_at": None})  # parked: never due
    now, stale = _at(t0 + 100), at
    assert store.due_endpoints(now, stale) == [{"endpoint_id": hook["id"], "due": 4, "sending": 0}]
    first = store.claim_next_delivery(hook["id"], now, stale, 2)
    second = store.claim_next_delivery(hook["id"], now, stale, 2)
    assert [first["id"], second["id"]] == ids[1:3], "oldest due first, the parked one skipped"
    assert store.claim_next_delivery(hook["id"], now, stale, 2) is None, "two in flight: the limit"
    assert store.claim_delivery(ids[3], now, stale, 2) is None
    assert store.due_endpoints(now, stale)[0]["sending"] == 2
    later = _at(t0 + 10_000)
    taken = store.claim_next_delivery(hook["id"], later, _at(t0 + 5_000), 2)  # both leases went stale meanwhile
    assert taken["id"] == ids[1], "a stale lease is taken over, oldest first"
    assert store.schedule_waiting(hook["id"], now) == 1 and store.get_delivery(ids[0])["next_attempt_at"] == now


def test_only_the_current_claim_settles_a_delivery(store: Any) -> None:
    """A lane whose lease ran out cannot overwrite what the lane that took the delivery over recorded."""
    t0 = 2_000_000_000.0
    at = _at(t0)
    hook = {"id": new_id(), "form_id": "f", "url": "http://x", "secret": "s", "events": ["*"], "created_at": at,
            "updated_at": at}
    store.create_webhook(hook)
    d = {"id": new_id(), "endpoint_id": hook["id"], "event_id": "e", "form_id": "f", "topic": "t", "payload": {},
         "state": "pending", "created_at": at, "updated_at": at, "next_attempt_at": at}
    store.put_delivery(d)
    assert store.settle_delivery(d["id"], None, {"state": "failed"}) is None, "never claimed: nothing to settle"
    first = store.claim_delivery(d["id"], _at(t0 + 1), at)
    assert first["claim_token"] and first["state"] == "sending"
    second = store.claim_delivery(d["id"], _at(t0 + 100), _at(t0 + 50))  # the first lease went stale
    assert second["claim_token"] not in (None, first["claim_token"])
    done = store.settle_delivery(d["id"], second["claim_token"], {"state": "succeeded", "attempts": 1})
    assert done["state"] == "succeeded" and done["claim_token"] is None
    late = {"state": "retrying", "attempts": 1, "next_attempt_at": _at(t0 + 200)}
    assert store.settle_delivery(d["id"], first["claim_token"], late) is None, "the stale claim is refused"
    assert store.settle_delivery(d["id"], second["claim_token"], late) is None, "settled once, not twice"
    row = store.get_delivery(d["id"])
    assert row["state"] == "succeeded" and row["next_attempt_at"] == at and row["attempts"] == 1


# real Redis, worker and receiver --------------------------------------------------------------------
def add_hook(api: Api, form_id: str, url: str) -> dict[str, Any]:
    resp = api.post(f"/api/v1/forms/{form_id}/webhooks", {"url": url})
    assert resp.status_code == 201, resp.json
    return resp.json


def submit(api: Api, form_id: str, n: int = 0) -> str:
    resp = api.post(f"/api/v1/forms/{form_id}/submissions", {"answers": {**ANSWERS, "name": f"n{n}"}})
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


def drain(relay: Any) -> None:
    while relay.run_once():
        pass


def deliveries(api: Api, hook_id: str) -> list[dict[str, Any]]:
    return api.get(f"/api/v1/webhooks/{hook_id}/deliveries?limit=1000").json["items"]


def test_backlog_after_an_outage_goes_out_oldest_first_within_the_endpoint_limit(
        api: Api, form: dict[str, Any], receiver: Any, relay: Any, worker: Any, settings: Any) -> None:
    object.__setattr__(settings, "webhook_retry_schedule", "0,30s")  # the retry would come long after the test
    object.__setattr__(settings, "webhook_disable_min_attempts", 1000)  # not what this test is about
    receiver.down(503)
    hook = add_hook(api, form["id"], receiver.url + "/lane")
    for i in range(8):
        submit(api, form["id"], i)
    drain(relay)
    waiting = wait_for(lambda: (lambda rows: len(rows) == 8 and all(r["state"] == "retrying" for r in rows) and rows)(
        deliveries(api, hook["id"])), timeout=20, what="every delivery to fail once")
    assert all(r["attempts"] == 1 and r["next_attempt_at"] > r["updated_at"] for r in waiting)
    receiver.down(None)
    receiver.slow(0.3)  # long enough that the two lanes overlap, short enough for the test
    # The endpoint answers again: one success brings what waits forward, and the lanes drain it.
    svc = WebhookService(relay.store, settings)
    relay.store.schedule_waiting(hook["id"], svc.now())
    from tasks.webhooks import sweep

    assert sweep(relay.store, relay.broker, settings) == 2, "one lane message per free slot"
    wait_for(lambda: all(r["state"] == "succeeded" for r in deliveries(api, hook["id"])), timeout=30,
             what="the backlog to drain")
    assert receiver.max_active["/lane"] <= settings.webhook_concurrency == 2
    sent = [r["headers"]["webhook-id"] for r in receiver.received("/lane") if r["status"] == 200]
    rows = sorted(deliveries(api, hook["id"]), key=lambda r: (r["created_at"], r["id"]))
    oldest_first = [r["event_id"] for r in rows]
    assert sorted(sent) == sorted(oldest_first) and len(sent) == 8
    # Two lanes: a delivery may overtake the one claimed just before it (its request raced on a loaded host).
    displaced = {e: sent.index(e) - i for i, e in enumerate(oldest_first)}
    assert all(abs(d) <= settings.webhook_concurrency for d in displaced.values()), displaced


def test_exhausted_schedule_fails_the_delivery_and_its_task_never_dead(
        api: Api, svc: Any, form: dict[str, Any], receiver: Any, relay: Any, worker: Any, settings: Any) -> None:
    object.__setattr__(settings, "webhook_retry_schedule", "0,0.1,0.1")
    object.__setattr__(settings, "webhook_disable_min_attempts", 1000)  # not what this test is about
    receiver.down(500)
    hook = add_hook(api, form["id"], receiver.url + "/dead")
    submit(api, form["id"])
    drain(relay)
    [d] = wait_for(lambda: [r for r in deliveries(api, hook["id"]) if r["state"] == "failed"], timeout=20,
                   what="the delivery to fail")
    assert d["attempts"] == 3 and d["next_attempt_at"] is None and d["last_status"] == 500
    assert len(receiver.received("/dead")) == 3
    assert [t for t in svc.store.list_tasks("dead", None, None, 100) if t["actor"].startswith("webhook.")] == []
    failed = wait_for(lambda: [t for t in svc.store.list_tasks("failed", None, None, 100)
                               if t["actor"] == "webhook.deliver"], what="the task that settled it")
    assert "retry schedule exhausted after 3 attempts" in failed[0]["error"]["message"]


def test_disabled_endpoint_parks_its_deliveries_and_re_enabling_sends_them(
        api: Api, form: dict[str, Any], receiver: Any, relay: Any, worker: Any, settings: Any) -> None:
    object.__setattr__(settings, "webhook_retry_schedule", "0,0.3")
    receiver.script("/park", [(503, {})])
    hook = add_hook(api, form["id"], receiver.url + "/park")
    submit(api, form["id"])
    drain(relay)
    wait_for(lambda: deliveries(api, hook["id"])[0]["state"] == "retrying", what="first failure")
    assert api.patch(f"/api/v1/webhooks/{hook['id']}", {"active": False}).status_code == 200
    parked = wait_for(lambda: (lambda d: d["next_attempt_at"] is None and d)(deliveries(api, hook["id"])[0]),
                      what="the retry to find the endpoint disabled")
    assert parked["state"] == "retrying" and parked["attempts"] == 1 and "disabled" in parked["last_error"]
    assert len(receiver.received("/park")) == 1, "nothing sent while disabled"
    assert api.patch(f"/api/v1/webhooks/{hook['id']}", {"active": True}).json["active"] is True
    done = wait_for(lambda: (lambda d: d["state"] == "succeeded" and d)(deliveries(api, hook["id"])[0]),
                    what="re-enabling to send what waited")
    assert done["attempts"] == 2 and len(receiver.received("/park")) == 2


def test_redis_wipe_loses_no_delivery_the_sweep_finds_it_by_next_attempt_at(
        api: Api, form: dict[str, Any], receiver: Any, relay: Any, broker: Any, worker: dramatiq.Worker,
        settings: Any, redis_server: Any) -> None:
    object.__setattr__(settings, "webhook_retry_schedule", "0,1s")
    object.__setattr__(settings, "webhook_disable_min_attempts", 1000)  # not what this test is about
    receiver.down(503)
    hook = add_hook(api, form["id"], receiver.url + "/wipe")
    for i in range(3):
        submit(api, form["id"], i)
    drain(relay)
    wait_for(lambda: (lambda rows: len(rows) == 3 and all(r["state"] == "retrying" for r in rows))(
        deliveries(api, hook["id"])), what="every delivery to wait for its retry")
    worker.stop(timeout=5000)  # its prefetched (delayed) prompts die with it ...
    redis_server.client(0).flushall()  # ... and Redis forgets the rest
    receiver.down(None)
    fresh = dramatiq.Worker(broker, worker_threads=2, worker_timeout=200)
    fresh.start()
    try:
        assert broker.do_qsize("default") == 0, "no prompt left anywhere"
        wait_for(lambda: all(parse_iso(r["next_attempt_at"]).timestamp() <= parse_iso(now_iso()).timestamp()
                             for r in deliveries(api, hook["id"])), timeout=10, what="the retries to be due")
        from tasks.webhooks import sweep

        assert sweep(relay.store, broker, settings) >= 1
        wait_for(lambda: all(r["state"] == "succeeded" for r in deliveries(api, hook["id"])), timeout=20,
                 what="the sweep's lanes to deliver")
        assert len([r for r in receiver.received("/wipe") if r["status"] == 200]) == 3
    finally:
        fresh.stop(timeout=5000)


def test_relay_loop_sweeps_on_its_first_pass(api: Api, form: dict[str, Any], receiver: Any, relay: Any,
                                             broker: Any, worker: Any, settings: Any) -> None:
    """The relay sweeps whatever the uptime: a delivery due with no message goes out without any prompt."""
    import threading

    from tasks import webhooks

    hook = add_hook(api, form["id"], receiver.url + "/relay")
    svc = WebhookService(relay.store, settings)
    at = svc.now()
    relay.store.put_delivery({"id": new_id(), "endpoint_id": hook["id"], "event_id": new_id(), "form_id": form["id"],
                              "topic": "submission.created", "payload": {"x": 1}, "state": "retrying",
                              "attempts": 1, "created_at": at, "updated_at": at, "next_attempt_at": at})
    webhooks._SweepClock.last = None
    from tasks import runtime

    runtime.use(replace(settings, webhook_sweep_interval=3600.0), runtime.services())
    loop = threading.Thread(target=relay.run, daemon=True)
    loop.start()
    try:
        wait_for(lambda: receiver.received("/relay"), timeout=15, what="the relay's sweep to send it")
    finally:
        relay.stop.set()
        loop.join(10)
