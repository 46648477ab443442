"""The webhook retry schedule, circuit-breaker postponement, per-endpoint lanes, disabling and recovery.

Pure rules with an injected clock and random source first; then the store's
claims on both backends; then real Redis, a real Dramatiq worker, real
SQLite and a real HTTP receiver.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
from tests.helpers import drain_queues, wait_for

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


def _claim(svc: WebhookService, d: dict[str, Any]) -> dict[str, Any]:
    """What a lane does before an attempt: take the due delivery (with a fresh claim token)."""
    claimed = svc.store.claim_delivery(d["id"], svc.now(), svc.stale_before())
    assert claimed is not None, f"not claimable: {d['state']} due {d['next_attempt_at']}"
    return claimed


def _delivery(svc: WebhookService, hook: dict[str, Any]) -> dict[str, Any]:
    """A new delivery, due now and claimed."""
    at = svc.now()
    d, _ = svc.store.put_delivery({"id": new_id(), "endpoint_id": hook["id"], "event_id": new_id(), "form_id": "f1",
                                   "topic": "t", "payload": {"n": 1}, "state": "pending", "created_at": at,
                                   "updated_at": at, "next_attempt_at": at})
    return _claim(svc, d)


def _retry(svc: WebhookService, clock: Clock, d: dict[str, Any], hook: dict[str, Any], attempt: Attempt) -> Any:
    """Wait until ``d`` is due, claim it, record ``attempt``."""
    clock.t = max(clock.t, parse_iso(d["next_attempt_at"]).timestamp())
    return svc.record_attempt(_claim(svc, d), hook, attempt)


FAIL = Attempt("retry", 503, "HTTP 503: down", 1.0)
OK = Attempt("ok", 200, None, 1.0)


def test_a_delivery_walks_the_schedule_then_fails_when_the_endpoint_answers_others(policy: Any) -> None:
    svc, clock, hook = policy
    d = _delivery(svc, hook)
    out = svc.record_attempt(d, hook, FAIL)
    assert out.delivery["state"] == "retrying" and out.delivery["attempts"] == 1 and not out.final
    wait = parse_iso(out.delivery["next_attempt_at"]).timestamp() - clock()
    assert 5.0 <= wait <= 5.5
    out = _retry(svc, clock, out.delivery, hook, FAIL)
    assert 300.0 <= parse_iso(out.delivery["next_attempt_at"]).timestamp() - clock() <= 330.0
    clock.t += 100
    svc.record_attempt(_delivery(svc, hook), hook, OK)  # another event gets through: no outage
    out = _retry(svc, clock, out.delivery, hook, FAIL)
    assert out.final and out.delivery["state"] == "failed" and out.delivery["next_attempt_at"] is None
    assert out.delivery["attempts"] == 3
    assert svc.store.due_endpoints(svc.at(DAY), svc.stale_before()) == []


def test_during_an_outage_the_last_step_repeats_until_the_endpoint_is_disabled(policy: Any) -> None:
    """Schedule "0,5s,5m" (5 min), disabled after 5 days and 4 attempts: nothing fails in between."""
    svc, clock, hook = policy
    d = _delivery(svc, hook)
    out = svc.record_attempt(d, hook, FAIL)
    for _ in range(2):
        out = _retry(svc, clock, out.delivery, hook, FAIL)
    assert out.delivery["state"] == "retrying" and not out.final, "schedule spent, but the endpoint is down"
    for attempts in range(4, 10):  # hours on: every 5 minutes (+ jitter), the last step
        out = _retry(svc, clock, out.delivery, hook, FAIL)
        assert out.delivery["attempts"] == attempts and out.delivery["state"] == "retrying"
        assert 300.0 <= parse_iso(out.delivery["next_attempt_at"]).timestamp() - clock() <= 330.0
        assert not out.disabled
    refused = svc.record_attempt(_delivery(svc, hook), hook, Attempt("fail", 410, "HTTP 410: gone", 1.0))
    assert refused.final and refused.delivery["state"] == "failed", "a rejected event still fails at once"
    clock.t += 5 * DAY
    out = _retry(svc, clock, out.delivery, hook, FAIL)
    assert out.disabled and out.delivery["state"] == "retrying", "disabled: the delivery waits, not failed"
    assert svc.store.get_webhook(hook["id"])["active"] == 0
    clock.t = parse_iso(out.delivery["next_attempt_at"]).timestamp()
    parked = svc.park(_claim(svc, out.delivery), "endpoint disabled")  # what the next lane run does
    assert parked["state"] == "retrying" and parked["next_attempt_at"] is None
    assert [r["state"] for r in svc.store.list_deliveries(hook["id"], None, None, 10)].count("failed") == 1


def test_an_endpoint_is_disabled_with_its_audit_record_or_not_at_all(policy: Any) -> None:
    """The audit write fails for real (a SQLite trigger aborts every insert) at the attempt
    that disables the endpoint: the endpoint stays active, so the next failure disables it again,
    this time with its record. Before, the endpoint was left disabled with no audit record."""
    import sqlite3

    svc, clock, hook = policy
    out = svc.record_attempt(_delivery(svc, hook), hook, FAIL)
    for _ in range(3):
        out = _retry(svc, clock, out.delivery, hook, FAIL)
    clock.t += 5 * DAY
    with sqlite3.connect(svc.store.path) as db:
        db.execute("CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):  # a failure, not a lost race: not retried
        _retry(svc, clock, out.delivery, hook, FAIL)
    row = svc.store.get_webhook(hook["id"])
    assert row["active"] == 1 and row["disabled_reason"] is None
    assert svc.store.last_audit() is None
    with sqlite3.connect(svc.store.path) as db:
        db.execute("DROP TRIGGER no_audit")
    d = svc.store.list_deliveries(hook["id"], None, None, 10)[0]
    assert d["state"] == "retrying", "the attempt itself was recorded before the disable failed"
    out = _retry(svc, clock, d, hook, FAIL)
    assert out.disabled and svc.store.get_webhook(hook["id"])["active"] == 0
    assert svc.store.last_audit()["action"] == "webhook.disabled"


def test_a_late_answer_from_a_lane_that_overran_its_lease_changes_nothing(policy: Any) -> None:
    svc, clock, hook = policy
    slow = _delivery(svc, hook)  # lane A claims it, then stalls past the lease
    clock.t += svc.lease_seconds + 1
    fast = _claim(svc, slow)  # lane B takes it over and gets through
    assert svc.record_attempt(fast, hook, OK).delivery["state"] == "succeeded"
    late = svc.record_attempt(slow, hook, FAIL)  # lane A comes back with a failure
    assert late.lost and not late.final and late.delivery["state"] == "succeeded"
    assert svc.record_attempt(slow, hook, OK).lost, "nor does a late success count twice"
    row = svc.store.get_delivery(slow["id"])
    assert row["state"] == "succeeded" and row["attempts"] == 1 and row["next_attempt_at"] is None
    assert svc.store.get_webhook(hook["id"])["consecutive_failures"] == 0, "the lost attempt is not counted"
    assert svc.postpone(slow, 5.0, "circuit open") is None and svc.park(slow, "x") is None
    assert svc.skip(slow, "x") is None and svc.store.get_delivery(slow["id"])["state"] == "succeeded"


def test_an_open_circuit_postpones_without_using_an_attempt(policy: Any) -> None:
    svc, clock, hook = policy
    d = svc.record_attempt(_delivery(svc, hook), hook, FAIL).delivery
    clock.t = parse_iso(d["next_attempt_at"]).timestamp()
    later = svc.postpone(_claim(svc, d), 40.0, "circuit open")
    assert later["attempts"] == 1 and later["state"] == "retrying" and later["last_error"] == "circuit open"
    assert parse_iso(later["next_attempt_at"]).timestamp() == pytest.approx(clock() + 40.0, abs=0.01)


def test_endpoint_is_disabled_only_after_days_of_failing_and_enough_attempts(policy: Any) -> None:
    svc, clock, hook = policy
    for _ in range(20):  # a burst: 20 failures within seconds
        assert not svc.record_attempt(_delivery(svc, hook), hook, FAIL).disabled
        clock.t += 0.1
    assert svc.store.get_webhook(hook["id"])["active"] == 1
    assert svc.record_attempt(_delivery(svc, hook), hook, OK).recovered
    assert svc.store.get_webhook(hook["id"])["failing_since"] is None, "a success ends the streak"
    svc.record_attempt(_delivery(svc, hook), hook, FAIL)  # one event the receiver rejects between successes
    assert not svc.record_attempt(_delivery(svc, hook), hook, OK).recovered, (
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

    # At most one lane message per free slot: 2, fewer when a lane that recorded a failure is still
    # looking for work and has claimed deliveries made due, or 0 when the relay's own sweeper has just
    # prompted the endpoint (its lane mark is set): races on a loaded host. The drain below must
    # happen either way.
    assert 0 <= sweep(relay.store, relay.broker, settings) <= 2, "at most one lane message per free slot"
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


class Trickler:
    """A loopback receiver that answers as ``plan(n, body)`` says: ``(status, seconds)``, the reply trickled
    a byte at a time over ``seconds`` (each byte well inside any read timeout). Records each request and
    the most requests in hand at once."""

    def __init__(self, plan: Callable[[int, bytes], tuple[int, float]]) -> None:
        self.plan, self.bodies, self.active, self.max_active = plan, [], 0, 0
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: later attempts reuse the connection

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with owner.lock:
                    status, seconds = owner.plan(len(owner.bodies), body)
                    owner.bodies.append(body)
                    owner.active += 1
                    owner.max_active = max(owner.max_active, owner.active)
                try:
                    self._reply(status, seconds)
                finally:
                    with owner.lock:
                        owner.active -= 1

            def _reply(self, status: int, seconds: float) -> None:
                self.wfile.write(f"HTTP/1.1 {status} X\r\nX-Pad: ".encode())
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    try:
                        self.wfile.write(b"a")
                    except OSError:  # the sender gave up on us
                        self.close_connection = True
                        return
                    time.sleep(0.05)  # the pace of the trickle, not synchronisation
                self.wfile.write(b"\r\nContent-Length: 2\r\n\r\nok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/t"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trickler() -> Iterator[Callable[..., Trickler]]:
    made: list[Trickler] = []

    def make(plan: Callable[[int, bytes], tuple[int, float]]) -> Trickler:
        made.append(Trickler(plan))
        return made[-1]

    yield make
    for t in made:
        t.close()


def test_an_attempt_is_cut_off_at_the_timeout_by_the_wall_clock_even_on_a_reused_connection(
        trickler: Callable[..., Trickler]) -> None:
    from app.webhooks.sender import deliver

    t = trickler(lambda n, _body: (200, 0.0) if n == 0 else (200, 10.0))
    assert deliver(t.url, "whsec_" + "A" * 32, "m1", {"n": 0}, 1.0).outcome == "ok"  # opens the kept-alive one
    started = time.monotonic()
    attempt = deliver(t.url, "whsec_" + "A" * 32, "m2", {"n": 1}, 1.0)  # a byte every 50 ms for 10 s
    took = time.monotonic() - started
    assert attempt.outcome == "retry" and attempt.status is None, "a cut-off reply proves nothing"
    assert "no complete reply within 1 s" in attempt.error
    assert took < 3.0, f"held {took:.1f} s: the timeout is per read, not per attempt"


def test_a_receiver_trickling_past_the_lease_gets_each_delivery_once_at_a_time_and_it_stays_succeeded(
        api: Api, form: dict[str, Any], trickler: Callable[..., Trickler], relay: Any, worker: Any,
        settings: Any) -> None:
    """Before: a 1 s timeout per read let a 10 s trickle outlive the 6 s lease; the sweep's lane sent the
    delivery again beside it, and the trickled 503 arriving last flipped ``succeeded`` back to ``retrying``."""
    from tasks.webhooks import sweep

    object.__setattr__(settings, "webhook_timeout", 1.0)
    object.__setattr__(settings, "webhook_retry_schedule", "0,0.2")
    object.__setattr__(settings, "webhook_disable_min_attempts", 1000)  # not what this test is about
    t = trickler(lambda n, _body: (503, 10.0) if n == 0 else (200, 0.0))
    svc = WebhookService(relay.store, settings)
    assert svc.lease_seconds == 6.0
    hook = add_hook(api, form["id"], t.url)
    submit(api, form["id"])
    drain(relay)
    started = time.monotonic()

    def settled() -> Any:
        sweep(relay.store, relay.broker, settings)  # what the relay does: takes over stale claims
        rows = deliveries(api, hook["id"])
        return rows and rows[0]["state"] == "succeeded" and rows[0]

    done = wait_for(settled, timeout=30, interval=0.1, what="the delivery to succeed")
    assert time.monotonic() - started < svc.lease_seconds, "the trickle was cut off inside the lease"
    drain_queues(relay.broker, worker)  # nothing more is on its way
    sweep(relay.store, relay.broker, settings)
    drain_queues(relay.broker, worker)
    assert t.max_active == 1, "never two sends of one delivery at once"
    assert len(t.bodies) == done["attempts"] == 2 and done["last_status"] == 200
    assert deliveries(api, hook["id"])[0]["state"] == "succeeded"


def test_an_outage_longer_than_the_schedule_fails_nothing_and_recovery_delivers_everything(
        api: Api, form: dict[str, Any], receiver: Any, relay: Any, worker: Any, settings: Any) -> None:
    """A compressed schedule (0.3 s in all) and a disable window the test never reaches."""
    object.__setattr__(settings, "webhook_retry_schedule", "0,0.1,0.2")
    object.__setattr__(settings, "webhook_disable_after", "1h")
    receiver.down(503)
    hook = add_hook(api, form["id"], receiver.url + "/outage")
    for i in range(3):
        submit(api, form["id"], i)
    drain(relay)
    rows = wait_for(lambda: (lambda rs: len(rs) == 3 and all(r["attempts"] >= 5 for r in rs) and rs)(
        deliveries(api, hook["id"])), timeout=20, what="every delivery to run past its 3-step schedule")
    assert {r["state"] for r in rows} <= {"retrying", "sending"}, "none failed while the endpoint is down"
    assert api.get(f"/api/v1/webhooks/{hook['id']}").json["active"] is True
    receiver.down(None)
    rows = wait_for(lambda: (lambda rs: all(r["state"] == "succeeded" for r in rs) and rs)(
        deliveries(api, hook["id"])), timeout=20, what="recovery to deliver the backlog")
    sent = {r["headers"]["webhook-id"] for r in receiver.received("/outage") if r["status"] == 200}
    assert sent == {r["event_id"] for r in rows}


def test_exhausted_schedule_fails_the_one_rejected_event_and_its_task_never_dead(
        api: Api, svc: Any, form: dict[str, Any], trickler: Callable[..., Trickler], relay: Any, worker: Any,
        settings: Any) -> None:
    """One event the receiver keeps answering 500 while the others get through: not an outage, so it fails."""
    object.__setattr__(settings, "webhook_retry_schedule", "0,1s")
    object.__setattr__(settings, "webhook_disable_min_attempts", 1000)  # not what this test is about
    t = trickler(lambda _n, body: (500, 0.0) if b'"poison"' in body else (200, 0.0))
    hook = add_hook(api, form["id"], t.url)
    resp = api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": {**ANSWERS, "name": "poison"}})
    assert resp.status_code == 201
    drain(relay)
    wait_for(lambda: deliveries(api, hook["id"])[0]["state"] == "retrying", what="the first rejection")
    for i in range(3):  # the receiver answers the others (they reset the endpoint's failure streak)
        submit(api, form["id"], i)
        drain(relay)
        wait_for(lambda: [r for r in deliveries(api, hook["id"]) if r["state"] == "succeeded"], what="a success")
    [d] = wait_for(lambda: [r for r in deliveries(api, hook["id"]) if r["state"] == "failed"], timeout=20,
                   what="the rejected event to fail")
    assert d["attempts"] >= 2 and d["next_attempt_at"] is None and d["last_status"] == 500
    assert [t for t in svc.store.list_tasks("dead", None, None, 100) if t["actor"].startswith("webhook.")] == []
    failed = wait_for(lambda: [t for t in svc.store.list_tasks("failed", None, None, 100)
                               if t["actor"] == "webhook.deliver"], what="the task that settled it")
    assert "retry schedule exhausted after" in failed[0]["error"]["message"]


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
    hook = add_hook(api, form["id"], receiver.url + "/relay")
    svc = WebhookService(relay.store, settings)
    at = svc.now()
    relay.store.put_delivery({"id": new_id(), "endpoint_id": hook["id"], "event_id": new_id(), "form_id": form["id"],
                              "topic": "submission.created", "payload": {"x": 1}, "state": "retrying",
                              "attempts": 1, "created_at": at, "updated_at": at, "next_attempt_at": at})
    from tasks import runtime

    runtime.use(replace(settings, webhook_sweep_interval=3600.0), runtime.services())
    loop = threading.Thread(target=relay.run, daemon=True)
    loop.start()
    try:
        wait_for(lambda: receiver.received("/relay"), timeout=15, what="the relay's sweep to send it")
    finally:
        relay.stop.set()
        loop.join(10)


def test_each_relay_sweeps_on_its_first_pass_whatever_swept_before_and_the_uptime(
        relay: Any, broker: Any, settings: Any) -> None:
    """The sweep's "last run" belongs to one relay loop, not the process: tests and relays start afresh."""
    from tasks import runtime
    from tasks.webhooks import Sweeper

    runtime.use(replace(settings, webhook_sweep_interval=60.0), runtime.services())
    hook = add_hook_direct(relay.store)
    now = [0.5]  # a machine booted half a second ago
    first, second = Sweeper(lambda: now[0]), Sweeper(lambda: now[0])
    _due(relay.store, hook)
    assert first.maybe(relay.store, broker) == 1, "never swept: sweep now"
    broker.client.delete("fms:webhooks:lane:" + hook)  # as the lane message does when it runs
    assert first.maybe(relay.store, broker) == 0, "within the interval"
    assert second.maybe(relay.store, broker) == 1, "another sweeper has its own clock"
    broker.client.delete("fms:webhooks:lane:" + hook)
    now[0] += 60.0
    assert first.maybe(relay.store, broker) == 1, "the interval has passed"


def add_hook_direct(store: Any) -> str:
    at = now_iso()
    hook = {"id": new_id(), "form_id": "f", "url": "http://127.0.0.1:9/h", "secret": "whsec_x", "events": ["*"],
            "created_at": at, "updated_at": at}
    store.create_webhook(hook)
    return hook["id"]


def _due(store: Any, hook_id: str) -> None:
    at = now_iso()
    store.put_delivery({"id": new_id(), "endpoint_id": hook_id, "event_id": new_id(), "form_id": "f", "topic": "t",
                        "payload": {}, "state": "pending", "created_at": at, "updated_at": at, "next_attempt_at": at})
