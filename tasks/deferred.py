"""Enqueue now, or through the outbox while Redis is down.

Work started through the API (fill, summarize, redelivery, benchmarks) goes
through :class:`tasks.dispatch.TaskDispatcher` (the HTTP layer sees only
:class:`app.dispatch.Dispatcher`): it is written to the store first — the
task record, state ``queued`` — and then enqueued. When Redis cannot take the message, answering 503 would throw away
work the store already holds; instead the message itself goes into the
outbox as a ``task.enqueue`` event (one store write), the API keeps its 202,
and the relay enqueues the very same message (same id, so the same task
record) once Redis is back. The relay's pipeline may partly succeed before a
connection drops, so a message can arrive twice; the task record (a finished
or cancelled task is skipped), the run lease (a copy arriving while another
runs is skipped, see :mod:`tasks.middleware`) and the idempotent actors
absorb that.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis
from dramatiq.message import Message

from app.observability import context
from app.util import new_id, now_iso

log = logging.getLogger("tasks.deferred")

DEFERRED_TOPIC = "task.enqueue"
DEFERRED_OPTION = "deferred"  # set on the relay's copy: the task record already exists, leave it alone
_DROP_OPTIONS = ("redis_message_id", "enqueued_ms")


def deferred_event(message: Message) -> dict[str, Any]:
    """The outbox event that carries ``message`` until the relay can enqueue it."""
    request_id = message.options.get("request_id") or context.request_id.get()
    data = message.asdict()
    data["options"] = {k: v for k, v in data["options"].items() if k not in _DROP_OPTIONS}
    data["options"]["request_id"] = request_id
    now = now_iso()
    return {"id": new_id(), "topic": DEFERRED_TOPIC, "key": message.actor_name, "payload": {"message": data},
            "created_at": now, "sent_at": None, "request_id": request_id}


def deferred_message(event: dict[str, Any]) -> Message:
    """The message a ``task.enqueue`` event carries, marked so enqueueing it keeps the task record as it is."""
    data = event["payload"]["message"]
    options = {**(data.get("options") or {}), DEFERRED_OPTION: True}
    options.setdefault("request_id", event.get("request_id"))
    return Message(queue_name=data["queue_name"], actor_name=data["actor_name"], args=tuple(data.get("args") or ()),
                   kwargs=dict(data.get("kwargs") or {}), options=options, message_id=data["message_id"],
                   message_timestamp=int(data["message_timestamp"]))


def enqueue_or_defer(broker: Any, store: Any, messages: Sequence[Message]) -> bool:
    """Enqueue ``messages`` (True), or hand them to the outbox when Redis is unreachable (False).

    The messages' before-enqueue hooks have run either way, so tracked tasks
    have their ``queued`` record whether Redis answered or not.
    """
    if not messages:
        return True
    try:
        broker.enqueue_many(messages)
        return True
    except redis.RedisError as exc:
        log.warning("broker unreachable; tasks go through the outbox",
                    extra={"count": len(messages), "error": repr(exc)})
    store.add_events([deferred_event(m) for m in messages])
    return False
