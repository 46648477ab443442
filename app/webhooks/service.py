"""Webhook endpoints and deliveries: the rules, without Flask or Dramatiq.

The actors (tasks/webhooks.py) and the HTTP views call into this. A
delivery is keyed by (event id, endpoint id), so the at-least-once relay and
redelivered fan-out messages never create a second delivery of one event to
one endpoint, and a delivery that succeeded is never sent again by a retry.
"""

from __future__ import annotations

import builtins
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app import audit
from app.auth.access import require_form
from app.auth.service import Principal
from app.errors import BadRequest, Conflict, NotFound, ValidationFailed
from app.forms.sensitive import redact as redact_answers
from app.forms.sensitive import sensitive_fields
from app.settings import Settings
from app.store import Record, Store
from app.tasks_api.service import decode_cursor, encode_cursor
from app.util import iso, new_id, now_iso, parse_iso
from app.validation import body_validator, check
from app.webhooks import schedule
from app.webhooks.sender import Attempt, new_secret
from app.webhooks.ssrf import UnsafeTarget, check_target, parse_nets

TOPICS = ("submission.created", "submission.updated", "submission.status_changed", "submission.deleted",
          "submission.restored", "ai.completed")
_EVENTS = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": ["*", *TOPICS]}}
WEBHOOK_BODY = body_validator({
    "type": "object",
    "additionalProperties": False,
    "required": ["url"],
    "properties": {
        "url": {"type": "string", "minLength": 8, "maxLength": 2000},
        "events": _EVENTS,
        "description": {"type": ["string", "null"], "maxLength": 500},
        "secret": {"type": "string", "pattern": "^whsec_[A-Za-z0-9+/=]{32,}$"},
        "include_sensitive": {"type": "boolean"},
    },
})
WEBHOOK_PATCH = body_validator({
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "url": {"type": "string", "minLength": 8, "maxLength": 2000},
        "events": _EVENTS,
        "description": {"type": ["string", "null"], "maxLength": 500},
        "active": {"type": "boolean"},
        "include_sensitive": {"type": "boolean"},
    },
})
BULK_BODY = body_validator({
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "state": {"enum": ["failed", "retrying", "succeeded", "skipped"]},
        "since": {"type": "string"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
})


def public_webhook(hook: Record, with_secret: bool = False) -> Record:
    out = {k: hook.get(k) for k in ("id", "form_id", "url", "events", "description", "consecutive_failures",
                                 "failing_since", "disabled_reason", "created_at", "updated_at")}
    out["active"] = bool(hook["active"])
    out["include_sensitive"] = bool(hook.get("include_sensitive"))
    out["secret" if with_secret else "secret_prefix"] = hook["secret"] if with_secret else hook["secret"][:10]
    return out


def public_delivery(d: Record) -> Record:
    return {k: d[k] for k in ("id", "endpoint_id", "event_id", "form_id", "topic", "state", "attempts",
                              "last_status", "last_error", "duration_ms", "created_at", "updated_at", "delivered_at",
                              "next_attempt_at")}


def redact(payload: Any, hidden: frozenset[str]) -> Any:
    """The payload with the form's sensitive answers masked (endpoints see them only when asked for)."""
    data = (payload or {}).get("data") if isinstance(payload, dict) else None
    if not hidden or not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
        return payload
    return {**payload, "data": {**data, "answers": redact_answers(data["answers"], hidden)}}


@dataclass(frozen=True)
class Outcome:
    """What recording an attempt changed: the delivery, whether it is settled as ``failed`` (schedule
    spent or refused), whether the endpoint was just disabled, and whether it had been failing before
    this success long enough to call it an outage (its backlog can go now)."""

    delivery: Record
    disabled: bool
    final: bool = False
    recovered: bool = False
    lost: bool = False  # the claim had passed to another lane: nothing was written


LEASE_MARGIN_S = 5.0  # a claim outlives the longest attempt (webhook_timeout) by this much


class WebhookService:
    """Endpoints, deliveries and the retry policy; ``clock`` (epoch seconds) and ``rng`` are injectable."""

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self.store: Any = store
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()

    def now(self) -> str:
        return iso(datetime.fromtimestamp(self.clock(), UTC))

    def at(self, seconds_from_now: float) -> str:
        return iso(datetime.fromtimestamp(self.clock() + seconds_from_now, UTC))

    @property
    def lease_seconds(self) -> float:
        """How long a ``sending`` claim is honoured before another worker may take the delivery over.

        Longer than an attempt can take: the sender cuts every attempt off at
        ``webhook_timeout`` by the wall clock. Should a lane still overrun it
        (a stalled worker), its claim token no longer matches once another lane
        has taken over, and what it comes back with is not written.
        """
        return self.settings.webhook_timeout + LEASE_MARGIN_S

    def stale_before(self) -> str:
        return self.at(-self.lease_seconds)

    # endpoints --------------------------------------------------------------------------
    def check_url(self, url: str) -> None:
        try:
            check_target(url, self.settings.webhook_allow_private, parse_nets(self.settings.webhook_allow_nets))
        except UnsafeTarget as exc:
            raise ValidationFailed("webhook URL is not allowed", [{"pointer": "/url", "message": str(exc)}],
                                   code="unsafe_webhook_target") from exc

    def create(self, form_id: str, body: Any, me: Principal) -> Record:
        check(WEBHOOK_BODY, body, "webhook is invalid")
        if self.store.get_form(form_id) is None:
            raise NotFound(f"form {form_id} not found", code="form_not_found")
        self.check_url(body["url"])
        now = now_iso()
        hook = {"id": new_id(), "form_id": form_id, "url": body["url"], "secret": body.get("secret") or new_secret(),
                "events": body.get("events", ["*"]), "description": body.get("description"), "active": 1,
                "consecutive_failures": 0, "include_sensitive": 1 if body.get("include_sensitive") else 0,
                "created_by": me.user_id, "created_at": now, "updated_at": now}
        with self.store.atomically():
            self.store.create_webhook(hook)
            audit.record(self.store, "webhook.created", me.username, hook["id"],
                         {"form_id": form_id, "url": hook["url"]})
        return hook

    def get(self, hook_id: str) -> Record:
        hook = self.store.get_webhook(hook_id)
        if hook is None:
            raise NotFound(f"webhook {hook_id} not found", code="webhook_not_found")
        return hook

    def list(self, form_id: str) -> list[Record]:
        return list(self.store.list_webhooks(form_id))

    def update(self, hook_id: str, body: Any, me: Principal) -> Record:
        check(WEBHOOK_PATCH, body, "webhook change is invalid")
        self.get(hook_id)
        if "url" in body:
            self.check_url(body["url"])
        changes: Record = {k: v for k, v in body.items() if k not in {"active", "include_sensitive"}}
        if "include_sensitive" in body:
            changes["include_sensitive"] = 1 if body["include_sensitive"] else 0
        if "active" in body:
            changes["active"] = 1 if body["active"] else 0
            if body["active"]:  # re-enabled by a person: start counting afresh
                changes.update(consecutive_failures=0, disabled_reason=None, failing_since=None)
        changes["updated_at"] = now_iso()
        with self.store.atomically():
            hook = self.store.update_webhook(hook_id, changes)
            if body.get("active"):  # what waited while it was disabled is due now (the caller starts its lane)
                self.store.schedule_waiting(hook_id, self.now())
            audit.record(self.store, "webhook.updated", me.username, hook_id, {"fields": sorted(body)})
        return hook

    def delete(self, hook_id: str, me: Principal) -> None:
        with self.store.atomically():
            if not self.store.delete_webhook(hook_id):
                raise NotFound(f"webhook {hook_id} not found", code="webhook_not_found")
            audit.record(self.store, "webhook.deleted", me.username, hook_id, {})

    # fan-out ----------------------------------------------------------------------------------
    @staticmethod
    def subscribed(hook: Record, topic: str) -> bool:
        events = hook.get("events") or ["*"]
        return "*" in events or topic in events

    def fan_out(self, event: Record) -> builtins.list[Record]:
        """Deliveries (created if missing) of ``event`` to the form's active endpoints that still need sending."""
        todo = []
        form = self.store.get_form(event["key"]) or {}
        hidden = sensitive_fields(form)
        for hook in self.store.list_webhooks(event["key"]):
            if not hook["active"] or not self.subscribed(hook, event["topic"]):
                continue
            now = self.now()
            delivery, _ = self.store.put_delivery({
                "id": new_id(), "endpoint_id": hook["id"], "event_id": event["id"], "form_id": event["key"],
                "topic": event["topic"], "payload": event["payload"] if hook["include_sensitive"] else
                redact(event["payload"], hidden), "state": "pending", "attempts": 0,
                "created_at": now, "updated_at": now, "next_attempt_at": now,
                "request_id": event.get("request_id")})
            if delivery["state"] in {"pending", "retrying"}:
                todo.append(delivery)
        return todo

    # attempts -----------------------------------------------------------------------------------
    def record_attempt(self, delivery: Record, hook: Record, attempt: Attempt) -> Outcome:
        """Log one attempt: succeeded, or the next attempt's time from the schedule, or ``failed``.

        ``failed`` when the receiver refused it (4xx other than 408/429, or the
        SSRF guard) or the schedule is spent while the endpoint answers others;
        during an endpoint outage the schedule's last step repeats instead (see
        :func:`schedule.in_outage`), until the endpoint is disabled and the
        delivery waits for it. The endpoint's failure streak is counted and the
        endpoint disabled per :func:`schedule.should_disable`. Written only under
        the delivery's current claim; otherwise ``lost`` and nothing changes.
        """
        now = self.now()
        attempts = (delivery["attempts"] or 0) + 1
        delay = None
        if attempt.outcome == "retry":
            steps = schedule.parse_schedule(self.settings.webhook_retry_schedule)
            delay = schedule.next_delay(steps, attempts, attempt.retry_after, self.rng,
                                        repeat_last=attempts >= len(steps) and self._in_outage(hook, steps[-1]))
        state = "succeeded" if attempt.outcome == "ok" else ("retrying" if delay is not None else "failed")
        changes = {"state": state, "attempts": attempts, "last_status": attempt.status,
                   "last_error": attempt.error, "duration_ms": round(attempt.duration_ms, 2), "updated_at": now,
                   "next_attempt_at": self.at(delay) if delay is not None else None}
        if state == "succeeded":
            changes["delivered_at"] = now
        updated = self.store.settle_delivery(delivery["id"], delivery.get("claim_token"), changes)
        if updated is None:  # another lane took it over (our lease ran out): its outcome stands
            return Outcome(self.store.get_delivery(delivery["id"]) or delivery, False, lost=True)
        if attempt.outcome == "ok":
            ended = self.store.webhook_succeeded(hook["id"], now)
            # An outage (a streak as long as the one that opens a breaker), not one event the receiver
            # rejects between successes: that one keeps its own schedule.
            return Outcome(updated, False, recovered=ended >= max(2, self.settings.breaker_fail_max))
        return Outcome(updated, self._count_failure(hook, attempt, now), final=state == "failed")

    def _in_outage(self, hook: Record, window: float) -> bool:
        """Whether the endpoint has answered nothing successfully for ``window`` seconds (before this attempt)."""
        since = (self.store.get_webhook(hook["id"]) or hook).get("failing_since")
        return schedule.in_outage(parse_iso(since).timestamp() if since else None, self.clock(), window)

    def _count_failure(self, hook: Record, attempt: Attempt, now: str) -> bool:
        """One more failure in the endpoint's streak; True when that disabled the endpoint."""
        failures = self.store.webhook_failed(hook["id"], now)
        fresh = self.store.get_webhook(hook["id"]) or hook
        since = fresh.get("failing_since")
        after = schedule.parse_duration(self.settings.webhook_disable_after)
        if not fresh["active"] or not schedule.should_disable(
                failures, parse_iso(since).timestamp() if since else None, self.clock(),
                self.settings.webhook_disable_min_attempts, after):
            return False
        reason = f"failing since {since} ({failures} failed attempts in a row); last: {attempt.error}"
        with self.store.atomically():  # disabled with its audit record, or not at all
            if not self.store.update_webhook(hook["id"], {"active": 0, "disabled_reason": reason[:500],
                                                          "updated_at": now}):
                return False
            audit.record(self.store, "webhook.disabled", "system", hook["id"],
                         {"form_id": hook["form_id"], "failures": failures, "failing_since": since, "url": hook["url"]})
        return True

    def postpone(self, delivery: Record, wait: float, reason: str) -> Record | None:
        """Back to waiting ``wait`` seconds WITHOUT counting an attempt (an open circuit is not one).

        This and :meth:`park`, :meth:`skip` settle a claimed delivery: None when the claim was lost.
        """
        state = "retrying" if delivery["attempts"] else "pending"
        return self.store.settle_delivery(delivery["id"], delivery.get("claim_token"), {
            "state": state, "last_error": reason, "updated_at": self.now(), "next_attempt_at": self.at(wait)})

    def park(self, delivery: Record, reason: str) -> Record | None:
        """The endpoint is disabled: wait, unscheduled, until a person re-enables it."""
        return self.store.settle_delivery(delivery["id"], delivery.get("claim_token"), {
            "state": "retrying" if delivery["attempts"] else "pending", "last_error": reason,
            "updated_at": self.now(), "next_attempt_at": None})

    def skip(self, delivery: Record, reason: str) -> Record | None:
        return self.store.settle_delivery(delivery["id"], delivery.get("claim_token"), {
            "state": "skipped", "last_error": reason, "updated_at": self.now(), "next_attempt_at": None})

    def owner_emails(self, hook: Record) -> builtins.list[str]:
        """Who hears that an endpoint was disabled: the form's notify list, else the operator address."""
        form = self.store.get_form(hook["form_id"]) or {}
        emails = list((form.get("settings") or {}).get("notify_emails") or [])
        if not emails and self.settings.alert_email:
            emails = [self.settings.alert_email]
        return emails

    # delivery log and redelivery ----------------------------------------------------------------
    def deliveries(self, hook_id: str, state: str | None, cursor: str | None, limit: int
                   ) -> tuple[builtins.list[Record], str | None]:
        self.get(hook_id)
        if not 1 <= limit <= 1000:
            raise BadRequest.field("limit", "limit must be between 1 and 1000")
        rows = self.store.list_deliveries(hook_id, state, decode_cursor(cursor), limit)
        return rows, (encode_cursor(rows[-1]) if len(rows) == limit else None)

    def get_delivery(self, delivery_id: str) -> Record:
        d = self.store.get_delivery(delivery_id)
        if d is None:
            raise NotFound(f"delivery {delivery_id} not found", code="delivery_not_found")
        return d

    def prepare_redelivery(self, delivery_id: str, me: Principal) -> Record:
        """Put one delivery back to pending (any state but pending); the caller enqueues it."""
        d = self.get_delivery(delivery_id)
        require_form(self.store, me, d["form_id"], "manage")
        hook = self.get(d["endpoint_id"])
        if not hook["active"]:
            raise Conflict("endpoint is disabled; enable it first", code="webhook_disabled")
        updated = self.store.update_delivery(delivery_id, self._fresh_schedule(),
                                             states=("succeeded", "failed", "skipped", "retrying"))
        if updated is None:
            raise Conflict("delivery is already pending", code="delivery_pending")
        return updated

    def _fresh_schedule(self) -> Record:
        """A redelivery starts the schedule again, due now."""
        now = self.now()
        return {"state": "pending", "attempts": 0, "updated_at": now, "next_attempt_at": now}

    def prepare_bulk(self, hook_id: str, body: Any, me: Principal) -> builtins.list[Record]:
        """Every delivery of an endpoint in ``state`` (default failed), optionally since a time."""
        hook = self.get(hook_id)
        require_form(self.store, me, hook["form_id"], "manage")  # first: an unseen form is 404, whatever the body
        check(BULK_BODY, body, "bulk redelivery is invalid")
        if not hook["active"]:
            raise Conflict("endpoint is disabled; enable it first", code="webhook_disabled")
        state, limit, since = body.get("state", "failed"), body.get("limit", 1000), body.get("since")
        picked: list[Record] = []
        after = None
        while len(picked) < limit:
            rows = self.store.list_deliveries(hook_id, state, after, min(500, limit))
            if not rows:
                break
            for d in rows:
                if since and d["created_at"] < since:
                    return picked
                again = self.store.update_delivery(d["id"], self._fresh_schedule(), states=(state,))
                if again is not None:
                    picked.append(again)
            after = (rows[-1]["created_at"], rows[-1]["id"])
        return picked[:limit]
