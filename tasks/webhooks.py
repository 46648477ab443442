"""Webhook actors: fan an outbox event out to the form's endpoints, deliver one signed request.

Both are idempotent: a fan-out run twice finds the deliveries it created the
first time (unique per event and endpoint), and a delivery that already
succeeded is not sent again.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from typing import Any

import pybreaker

from app.util import now_iso
from app.webhooks.sender import Attempt
from app.webhooks.sender import deliver as http_deliver
from app.webhooks.service import WebhookService
from app.webhooks.ssrf import UnsafeTarget, check_address, check_target, parse_nets
from tasks import metrics, runtime
from tasks.breaker import TargetFailed, breaker_for, target_of
from tasks.broker import actor, send
from tasks.errors import Permanent, Retryable
from tasks.middleware import last_attempt

log = logging.getLogger("tasks.webhooks")


def _service() -> WebhookService:
    return WebhookService(runtime.services().store, runtime.settings())


@actor("webhook.fanout")
def fanout(event: dict[str, Any]) -> int:
    """Create the deliveries of one outbox event and enqueue each."""
    todo = _service().fan_out(event)
    for delivery in todo:
        send(deliver, delivery["id"])
    return len(todo)


def _attempt(url: str, secret: str, msg_id: str, payload: Any) -> Attempt:
    """One HTTP attempt through the target's circuit breaker."""
    settings = runtime.settings()
    holder: list[Attempt] = []

    nets = parse_nets(settings.webhook_allow_nets)

    def guard(ip: str) -> None:  # the connected address, not only the resolved one
        check_address(ipaddress.ip_address(ip.split("%", 1)[0]), settings.webhook_allow_private, nets)

    def call() -> None:
        attempt = http_deliver(url, secret, msg_id, payload, settings.webhook_timeout, guard)
        holder.append(attempt)
        if attempt.outcome == "retry":
            raise TargetFailed(attempt.error or "failed")

    with contextlib.suppress(TargetFailed):
        breaker_for(target_of(url)).call(call)
    return holder[0]


@actor("webhook.deliver", max_retries=5)
def deliver(delivery_id: str) -> str:
    svc = _service()
    store = svc.store
    delivery = store.get_delivery(delivery_id)
    if delivery is None or delivery["state"] in {"succeeded", "skipped", "failed"}:
        return "nothing to do"
    lease = runtime.settings().webhook_timeout + 5
    claimed = store.claim_delivery(delivery_id, now_iso(), now_iso(-lease))
    if claimed is None:
        again = store.get_delivery(delivery_id)
        if again is not None and again["state"] == "sending":  # another worker holds it: check back later
            raise Retryable("delivery is being sent by another worker", retry_after=lease)
        return "nothing to do"
    delivery = claimed
    hook = store.get_webhook(delivery["endpoint_id"])
    if hook is None or not hook["active"]:
        svc.skip(delivery, "endpoint deleted or disabled")
        return "skipped"
    settings = runtime.settings()
    try:
        check_target(hook["url"], settings.webhook_allow_private, parse_nets(settings.webhook_allow_nets))
    except UnsafeTarget as exc:
        svc.record_attempt(delivery, hook, Attempt("fail", None, f"refused: {exc}", 0.0), final=True)
        metrics.WEBHOOK_ATTEMPTS.labels("refused").inc()
        raise Permanent(f"webhook target refused: {exc}") from exc
    try:
        attempt = _attempt(hook["url"], hook["secret"], delivery["event_id"], delivery["payload"])
    except pybreaker.CircuitBreakerError as exc:
        metrics.WEBHOOK_ATTEMPTS.labels("breaker_open").inc()
        store.update_delivery(delivery_id, {"state": "retrying", "last_error": "circuit open", "updated_at": now_iso()})
        raise Retryable(f"circuit open for {target_of(hook['url'])}") from exc
    final = last_attempt()
    outcome = svc.record_attempt(delivery, hook, attempt, final=final)
    metrics.WEBHOOK_ATTEMPTS.labels(attempt.outcome).inc()
    if outcome.disabled:
        _notify_disabled(svc, hook)
    if attempt.outcome == "retry":
        raise Retryable(attempt.error or "delivery failed", retry_after=attempt.retry_after)
    if attempt.outcome == "fail":
        raise Permanent(attempt.error or "delivery refused by the receiver")
    return "delivered"


def _notify_disabled(svc: WebhookService, hook: dict[str, Any]) -> None:
    from tasks.email import send_mail

    log.warning("webhook endpoint disabled", extra={"webhook_id": hook["id"], "url": hook["url"]})
    recipients = svc.owner_emails(hook)
    if recipients and runtime.settings().smtp_host:
        send(send_mail, recipients, f"fms: webhook {hook['url']} disabled",
             f"The webhook endpoint {hook['url']} (id {hook['id']}) of form {hook['form_id']} failed "
             f"{svc.settings.webhook_disable_after} times in a row and was disabled. Re-enable it with "
             f"PATCH /api/v1/webhooks/{hook['id']} {{\"active\": true}} once the receiver works again.",
             f"webhook-disabled:{hook['id']}:{hook['updated_at']}")
