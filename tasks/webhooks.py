"""Webhook actors: fan an outbox event out to the form's endpoints, deliver signed requests per endpoint lane.

The store, not Redis, is the schedule. Every delivery row carries its state,
its attempt number and ``next_attempt_at``; a message in the broker is only
a prompt to look at the store. So:

* a failed attempt is recorded with the next time from
  ``FMS_WEBHOOK_RETRY_SCHEDULE`` (about a day by default) and the task
  itself ends — a webhook task never goes ``dead`` while its delivery says
  ``retrying``. Short waits get a delayed message as a prompt; long ones,
  and anything a Redis wipe or a killed worker lost, are found by
  :func:`sweep` (run by the relay loop) because their ``next_attempt_at``
  has passed;
* an open circuit breaker postpones the delivery to the breaker's reset
  plus jitter and does not count as an attempt;
* each endpoint has at most ``FMS_WEBHOOK_CONCURRENCY`` deliveries in
  flight (the claim in the store checks it). A worker that finishes one
  keeps draining the endpoint's due deliveries oldest first (a "lane"), so
  an endpoint that comes back gets its backlog in order and at a bounded
  pace instead of a stampede.

Both actors are idempotent: a fan-out run twice finds the deliveries it
created the first time (unique per event and endpoint), and a claim only
succeeds for a delivery that is due, so duplicate prompts send nothing. A
claim holds a token and a lease longer than any attempt (the sender cuts an
attempt off at ``FMS_WEBHOOK_TIMEOUT`` by the wall clock); only the lane that
holds the current token writes the outcome, so a lane that overran its lease
cannot overwrite (or resend) what the lane that took over recorded.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pybreaker
import redis
from dramatiq import Message

from app.util import parse_iso
from app.webhooks.schedule import breaker_wait
from app.webhooks.sender import Attempt
from app.webhooks.sender import deliver as http_deliver
from app.webhooks.service import WebhookService
from app.webhooks.ssrf import UnsafeTarget, check_address, check_target, parse_nets
from tasks import metrics, runtime
from tasks.breaker import TargetFailed, breaker_for, call_concurrently, target_of
from tasks.broker import actor, current, message_for, send
from tasks.errors import Permanent

log = logging.getLogger("tasks.webhooks")

LANE_BUDGET_S = 10.0  # a lane hands over to a fresh message after this long (well inside the time limit)
LANE_MAX = 200  # ... or after this many deliveries
PROMPT_MAX_DELAY_S = 120.0  # waits up to this get a delayed message; longer ones are the sweep's
LANE_MARK = "fms:webhooks:lane:"  # set while a sweep-enqueued lane message waits, so sweeps do not pile up
LANE_MARK_TTL = 60


def _service() -> WebhookService:
    return WebhookService(runtime.services().store, runtime.settings())


@actor("webhook.fanout")
def fanout(event: dict[str, Any]) -> int:
    """Create the deliveries of one outbox event and prompt each."""
    todo = _service().fan_out(event)
    for delivery in todo:
        send(deliver, delivery["id"])
    return len(todo)


LOST = "claim lost: another lane took the delivery over"


@dataclass(frozen=True)
class Sent:
    """What one claimed delivery came to; ``failed`` holds the reason when it is settled as failed."""

    summary: str
    failed: str | None = None


def _attempt(url: str, secret: str, msg_id: str, payload: Any, request_id: str | None = None) -> Attempt:
    """One HTTP attempt through the target's circuit breaker (raises CircuitBreakerError when open)."""
    settings = runtime.settings()
    holder: list[Attempt] = []

    nets = parse_nets(settings.webhook_allow_nets)

    def guard(ip: str) -> None:  # the connected address, not only the resolved one
        check_address(ipaddress.ip_address(ip.split("%", 1)[0]), settings.webhook_allow_private, nets)

    def call() -> None:
        attempt = http_deliver(url, secret, msg_id, payload, settings.webhook_timeout, guard, request_id)
        holder.append(attempt)
        if attempt.outcome == "retry":
            raise TargetFailed(attempt.error or "failed")

    with contextlib.suppress(TargetFailed):  # a hung target does not hold its breaker's lock (call_concurrently)
        call_concurrently(breaker_for(target_of(url)), call)
    return holder[0]


def _breaker_remaining(url: str) -> float:
    """Seconds until the open breaker of ``url``'s target lets a trial call through."""
    cb = breaker_for(target_of(url))
    opened = cb._state_storage.opened_at  # pybreaker keeps it there; no public accessor
    if opened is None:
        return float(cb.reset_timeout)
    return max(0.0, cb.reset_timeout - (datetime.now(UTC) - opened).total_seconds())


def _prompt(delivery_id: str, wait: float) -> None:
    """A delayed message for a short wait; never fatal: the sweep finds the delivery when it is due."""
    if wait > PROMPT_MAX_DELAY_S:
        return
    try:
        current().enqueue(message_for(deliver, delivery_id), delay=max(0, int(wait * 1000)))
    except redis.RedisError as exc:
        log.warning("could not prompt a webhook retry; the sweep will", extra={"delivery_id": delivery_id,
                                                                               "error": repr(exc)})


def _until(svc: WebhookService, when: str | None) -> float:
    return max(0.0, parse_iso(when).timestamp() - svc.clock()) if when else 0.0


def _send(svc: WebhookService, delivery: dict[str, Any]) -> Sent:
    """Attempt one claimed delivery and record what happened (never raises for the receiver's answer)."""
    store, settings = svc.store, svc.settings
    hook = store.get_webhook(delivery["endpoint_id"])
    if hook is None:
        return Sent("skipped" if svc.skip(delivery, "endpoint deleted") else LOST)
    if not hook["active"]:
        return Sent("parked" if svc.park(delivery, "endpoint disabled; sent when it is re-enabled") else LOST)
    try:
        check_target(hook["url"], settings.webhook_allow_private, parse_nets(settings.webhook_allow_nets))
        attempt = _attempt(hook["url"], hook["secret"], delivery["event_id"], delivery["payload"],
                           delivery.get("request_id"))
    except UnsafeTarget as exc:
        attempt = Attempt("fail", None, f"refused: {exc}", 0.0)
        metrics.WEBHOOK_ATTEMPTS.labels("refused").inc()
    except pybreaker.CircuitBreakerError:
        metrics.WEBHOOK_ATTEMPTS.labels("breaker_open").inc()
        wait = breaker_wait(_breaker_remaining(hook["url"]), settings.breaker_reset, svc.rng)
        if svc.postpone(delivery, wait, "circuit open") is None:
            return Sent(LOST)
        _prompt(delivery["id"], wait)
        return Sent("postponed: circuit open")
    else:
        metrics.WEBHOOK_ATTEMPTS.labels(attempt.outcome).inc()
    outcome = svc.record_attempt(delivery, hook, attempt)
    if outcome.lost:
        log.warning("webhook attempt outlived its claim; the lane that took over keeps its outcome",
                    extra={"delivery_id": delivery["id"], "outcome": attempt.outcome})
        return Sent(LOST)
    if outcome.disabled:
        _notify_disabled(svc, hook)
    if outcome.recovered:  # the endpoint answers again: what waits for it is due, the lane sends it oldest first
        store.schedule_waiting(hook["id"], svc.now())
    state = outcome.delivery["state"]
    if state == "retrying":
        _prompt(delivery["id"], _until(svc, outcome.delivery["next_attempt_at"]))
        return Sent(f"attempt {outcome.delivery['attempts']} failed; next at {outcome.delivery['next_attempt_at']}")
    if outcome.final:
        why = "retry schedule exhausted" if attempt.outcome == "retry" else "refused"
        return Sent("failed", f"{why} after {outcome.delivery['attempts']} attempts: {attempt.error}")
    return Sent("delivered")


def _drain(svc: WebhookService, endpoint_id: str) -> dict[str, Sent]:
    """Send the endpoint's due deliveries, oldest first, while a concurrency slot is free; what each came to."""
    started = time.monotonic()
    sent: dict[str, Sent] = {}
    while len(sent) < LANE_MAX and time.monotonic() - started < LANE_BUDGET_S:
        claimed = svc.store.claim_next_delivery(endpoint_id, svc.now(), svc.stale_before(),
                                                svc.settings.webhook_concurrency)
        if claimed is None:
            return sent
        sent[claimed["id"]] = _send(svc, claimed)
    with contextlib.suppress(redis.RedisError):  # more may be due: a fresh message continues (or the sweep)
        send(lane, endpoint_id)
    return sent


@actor("webhook.deliver")
def deliver(delivery_id: str) -> str:
    """A prompt for one delivery: run its endpoint's lane, which sends it when it is the oldest due one.

    Going through the lane (not claiming this id directly) keeps every send
    oldest-first and within the endpoint's concurrency. The task fails exactly
    when it settled its own delivery as ``failed`` (refused by the receiver or
    schedule spent), so task and delivery log agree; it never goes ``dead``
    over a receiver outage.
    """
    svc = _service()
    row = svc.store.get_delivery(delivery_id)
    if row is None or row["state"] not in {"pending", "retrying", "sending"}:
        return "nothing to do"
    own = _drain(svc, row["endpoint_id"]).get(delivery_id)
    if own is None:
        return "not sent now (not due yet, being sent, or the endpoint's slots are busy)"
    if own.failed:
        raise Permanent(own.failed)
    return own.summary


@actor("webhook.lane")
def lane(endpoint_id: str) -> int:
    """Drain one endpoint's due deliveries (prompted by :func:`sweep` or a lane that ran out of budget)."""
    with contextlib.suppress(redis.RedisError):
        current().client.delete(LANE_MARK + endpoint_id)
    return len(_drain(_service(), endpoint_id))


def sweep(store: Any, broker: Any, settings: Any) -> int:
    """Prompt a lane for every active endpoint with due deliveries and a free slot; the messages sent.

    This is what makes the store the schedule: deliveries whose prompt was
    lost (Redis wiped, worker killed mid-send, a long wait that never had a
    message) are found by their ``next_attempt_at`` and sent.
    """
    svc = WebhookService(store, settings)
    messages: list[Message] = []
    for row in store.due_endpoints(svc.now(), svc.stale_before()):
        free = min(settings.webhook_concurrency - row["sending"], row["due"])
        if free <= 0 or not broker.client.set(LANE_MARK + row["endpoint_id"], "1", nx=True, ex=LANE_MARK_TTL):
            continue
        messages.extend(message_for(lane, row["endpoint_id"]) for _ in range(free))
    if messages:
        broker.enqueue_many(messages)
    return len(messages)


class Sweeper:
    """:func:`sweep` at most every ``FMS_WEBHOOK_SWEEP_INTERVAL`` seconds on ``clock`` (one per relay loop).

    An instance, not module state, so each relay (and each test) starts with
    "never swept": the first pass sweeps whatever the uptime or whatever ran
    before in the process.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last: float | None = None

    def maybe(self, store: Any, broker: Any) -> int:
        settings = runtime.settings()
        now = self.clock()
        if self.last is not None and now - self.last < settings.webhook_sweep_interval:
            return 0
        self.last = now
        moved = sweep(store, broker, settings)
        if moved:
            log.info("webhook sweep prompted lanes", extra={"messages": moved})
        return moved


def _notify_disabled(svc: WebhookService, hook: dict[str, Any]) -> None:
    from tasks.email import send_mail

    log.warning("webhook endpoint disabled", extra={"webhook_id": hook["id"], "url": hook["url"]})
    recipients = svc.owner_emails(hook)
    if recipients and runtime.settings().smtp_host:
        with contextlib.suppress(redis.RedisError):
            send(send_mail, recipients, f"fms: webhook {hook['url']} disabled",
                 f"The webhook endpoint {hook['url']} (id {hook['id']}) of form {hook['form_id']} failed without "
                 f"a success for {svc.settings.webhook_disable_after} and at least "
                 f"{svc.settings.webhook_disable_min_attempts} attempts in a row, and was disabled. Its pending "
                 f"deliveries wait; re-enable it with PATCH /api/v1/webhooks/{hook['id']} {{\"active\": true}} "
                 f"once the receiver works again and they are sent.",
                 f"webhook-disabled:{hook['id']}:{hook['updated_at']}")
