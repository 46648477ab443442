"""The task system behind :class:`app.dispatch.Dispatcher`: Dramatiq on Redis, the outbox as fallback.

The composition root (:func:`app.factory.create_app`) plugs a
:class:`TaskDispatcher` into the service container; blueprints then start
work by actor name without importing this package. Every call resolves the
process's current broker (:func:`tasks.broker.current`) when it is made, so
a process (or a test) that configures its broker after building the app
still sends through the broker it configured.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import dramatiq
import redis
from dramatiq.common import dq_name
from dramatiq.message import Message

from app.dispatch import Call, Dispatcher
from app.settings import Settings
from app.store import Store
from tasks import heartbeat
from tasks.broker import current, message_for, replay_message
from tasks.deferred import enqueue_or_defer
from tasks.registry import load_actors

log = logging.getLogger("tasks.dispatch")


class TaskDispatcher(Dispatcher):
    """Enqueue now, or hand the message to the outbox while Redis is down (:mod:`tasks.deferred`)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings  # also what heartbeat.ready_probe reads (settings.redis_url)

    @staticmethod
    def _actor(name: str) -> dramatiq.Actor:
        """The actor declared under ``name``; the actor modules are imported on the first unknown name."""
        broker = current()
        if name not in broker.actors:
            load_actors()
        return broker.get_actor(name)

    def _message(self, call: Call, options: Mapping[str, Any] | None = None, task_id: str | None = None,
                 created_by: str | None = None) -> Message:
        return message_for(self._actor(call.actor), *call.args, task_id=task_id, created_by=created_by,
                           options=dict(options or {}), **dict(call.kwargs))

    def enqueue_tracked(self, actor: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *,
                        created_by: str | None = None, form_id: str | None = None,
                        task_id: str | None = None) -> str:
        options = {"form_id": form_id} if form_id else None
        msg = self._message(Call(actor, tuple(args), dict(kwargs or {})), options, task_id, created_by)
        enqueue_or_defer(current(), self.store, [msg])
        return str(msg.message_id)

    def enqueue_many(self, calls: Sequence[Call]) -> bool:
        return enqueue_or_defer(current(), self.store, [self._message(c) for c in calls])

    def replay(self, message: Mapping[str, Any]) -> bool:
        return enqueue_or_defer(current(), self.store, [replay_message(dict(message))])

    def nudge(self, call: Call) -> bool:
        try:
            current().enqueue(self._message(call))
        except redis.RedisError as exc:
            log.info("broker unreachable; nudge dropped", extra={"actor": call.actor, "error": repr(exc)})
            return False
        return True

    def workers_ready(self) -> bool:
        return heartbeat.ready_probe(self)

    def queue_depth(self, queue: str) -> int | None:
        """HLEN of the queue's and its delay queue's message hashes in one pipeline.

        Dramatiq keeps every message of a queue in ``<ns>:<queue>.msgs`` until it is acked, so
        this counts waiting, prefetched and running messages; ``.DQ`` holds retries waiting out
        their backoff. None when Redis does not answer (the call then goes to the outbox anyway).
        """
        broker = current()
        pipe = broker.client.pipeline(transaction=False)
        for name in (queue, dq_name(queue)):
            pipe.hlen(f"{broker.namespace}:{name}.msgs")
        try:
            return sum(int(n) for n in pipe.execute())
        except redis.RedisError as exc:
            log.info("queue depth unreadable", extra={"queue": queue, "error": repr(exc)})
            return None
