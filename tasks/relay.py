"""The outbox relay: moves events written with submissions into the broker.

A loop (``fms relay``): read up to FMS_RELAY_BATCH pending events, enqueue
their messages in ONE Redis pipeline, then mark them sent. If Redis is down
the pipeline fails, nothing is marked and the loop retries with backoff —
the API kept accepting submissions meanwhile, because it only wrote to the
store. A crash between enqueue and mark sends a batch twice; every actor is
idempotent, so at-least-once is safe.

A broker Redis with AOF ``everysec`` that is killed loses up to a couple of
seconds of writes: events moved in that window are marked sent here and gone
there. The relay notices a new Redis by its ``run_id`` and sends the events
of that window again (:class:`RecentlySent`).

Under supervisord, which has no timers, the relay doubles as the scheduler:
given a :class:`tasks.timers.Scheduler` (``FMS_TIMERS``, rendered from the
process tree) it runs the tree's timers (purge, export, backup) beside the
loop. Under systemd the same timers are ``fms-<name>.timer`` units.

The loop beats like a worker (:func:`tasks.metrics.record_heartbeat`, every
:data:`tasks.heartbeat.BEAT_INTERVAL`), as process ``FMS_PROCESS`` (``relay``)
and queue ``outbox`` (:data:`HEARTBEAT_QUEUE`), so FmsWorkerHeartbeatMissing
also says when the relay died or its loop hangs. It beats from the loop itself,
not a thread: a loop stuck in a store call must stop beating. It writes no
``fms:heartbeat:*`` key: ``/ready`` counts workers, and the relay serves no queue.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from dramatiq.common import current_millis
from dramatiq.message import Message

from app.util import new_id, now_iso
from tasks import metrics
from tasks.deferred import DEFERRED_TOPIC, deferred_message
from tasks.heartbeat import BEAT_INTERVAL
from tasks.routing import queue_for
from tasks.timers import Scheduler
from tasks.webhooks import Sweeper

log = logging.getLogger("tasks.relay")
# The `queue` label of the relay's heartbeat (fms_worker_last_heartbeat_timestamp_seconds):
# what it moves, the outbox; no broker queue is called that.
HEARTBEAT_QUEUE = "outbox"

# Which actors each outbox topic becomes: the one routing table for events, for exactly the
# topics endpoints subscribe to (app.webhooks.service.TOPICS; tests/tasks/test_relay_routing.py).
# The fan-out actors decide per endpoint/recipient.
TOPIC_ACTORS: dict[str, tuple[str, ...]] = {
    # hooks.ai_embed (default queue) embeds the submission only when its form enables it.
    "submission.created": ("webhook.fanout", "email.submission", "hooks.ai_embed"),
    "submission.updated": ("webhook.fanout",),
    "submission.status_changed": ("webhook.fanout",),
    "submission.deleted": ("webhook.fanout",),
    "submission.restored": ("webhook.fanout",),
    "ai.completed": ("webhook.fanout",),
}


def messages_for(event: dict[str, Any]) -> list[Message]:
    """The broker messages one outbox event becomes.

    They carry the request id of the write that made the event, so the
    webhook, e-mail and embedding tasks (and what they enqueue) log it too.
    A ``task.enqueue`` event is a message the API could not enqueue itself.
    """
    if event["topic"] == DEFERRED_TOPIC:
        return [deferred_message(event)]
    options = {"event_id": event["id"], "request_id": event.get("request_id")}
    return [
        Message(queue_name=queue_for(name), actor_name=name, args=(event,), kwargs={},
                options=dict(options), message_id=new_id(), message_timestamp=current_millis())
        for name in TOPIC_ACTORS.get(event["topic"], ())
    ]


# Longer than what a killed Redis can lose with `appendfsync everysec` (one second, two
# when fsync lags: Redis then delays writes rather than fall further behind).
REPLAY_WINDOW = 5.0


class RecentlySent:
    """The events moved to the broker in the last :data:`REPLAY_WINDOW` seconds of contact.

    Kept in memory, per relay: they are the ones a Redis that died just now may
    not have written to its AOF yet. Dropped only after a later contact with the
    *same* Redis (same ``run_id``), never merely because time passed while it
    was down. A relay killed together with Redis loses this list (documented).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, window: float = REPLAY_WINDOW) -> None:
        self._clock, self.window = clock, window
        self._events: deque[tuple[float, dict[str, Any]]] = deque()
        self.run_id: str | None = None

    def add(self, events: list[dict[str, Any]]) -> None:
        now = self._clock()
        self._events.extend((now, e) for e in events)

    def lost_to(self, run_id: str) -> list[dict[str, Any]]:
        """The events to send again if ``run_id`` is another Redis than the last one seen."""
        if self.run_id is None or run_id == self.run_id:
            return []
        return [e for _, e in self._events]

    def settle(self, run_id: str) -> None:
        """``run_id`` answered (and has what :meth:`lost_to` returned): trust it up to now."""
        if run_id != self.run_id:
            self._events.clear()
            self.run_id = run_id
        cutoff = self._clock() - self.window
        while self._events and self._events[0][0] < cutoff:
            self._events.popleft()


class Relay:
    def __init__(self, store: Any, broker: Any, batch: int = 500, interval: float = 0.2,
                 scheduler: Scheduler | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.broker = store, broker
        self.batch, self.interval = batch, interval
        self.stop = threading.Event()
        self._webhook_sweeper = Sweeper(clock)
        self.scheduler = scheduler
        self._maintenance: threading.Thread | None = None
        self._recent = RecentlySent(clock)
        self._clock = clock
        self._last_beat: float | None = None  # none yet: the first pass beats, whatever the uptime

    def run_once(self) -> int:
        """Move one batch; the number of events moved (0: outbox empty)."""
        self._resend_lost()
        events = self.store.pending_events(self.batch)
        if not events:
            return 0
        messages = [m for e in events for m in messages_for(e)]
        self.broker.enqueue_many(messages)
        self.store.mark_events_sent([e["id"] for e in events], now_iso())
        self._recent.add(events)
        for e in events:
            metrics.RELAY_EVENTS.labels(e["topic"]).inc()
        return len(events)

    def _resend_lost(self) -> None:
        """After a Redis restart, send again what it may have lost (see :class:`RecentlySent`)."""
        run_id = str(self.broker.client.info("server")["run_id"])
        lost = self._recent.lost_to(run_id)
        if lost:
            self.broker.enqueue_many([m for e in lost for m in messages_for(e)])
            log.warning("broker restarted: events of the last seconds sent again", extra={"count": len(lost)})
        self._recent.settle(run_id)

    def run(self) -> None:
        """Until :attr:`stop` is set: drain, wait, back off on errors (Redis or store down)."""
        failures = 0
        timers = [job.timer.name for job in self.scheduler.jobs] if self.scheduler else []
        log.info("relay started", extra={"batch": self.batch, "timers": timers})
        while not self.stop.is_set():
            self.beat()
            try:
                moved = self.run_once()
                if failures:
                    log.info("relay recovered", extra={"after_failures": failures})
                failures = 0
                self._start_maintenance()
                self._webhook_sweeper.maybe(self.store, self.broker)  # due deliveries whose message was lost
            except Exception as exc:  # noqa: BLE001 - any outage: keep the events, try again
                failures += 1
                metrics.RELAY_ERRORS.inc()
                log.warning("relay batch failed; will retry", extra={"error": repr(exc), "failures": failures})
                self.stop.wait(min(2.0, 0.1 * 2 ** min(failures, 5)))
                continue
            if moved < self.batch:
                self.stop.wait(self.interval)
        if self.scheduler is not None:
            self.scheduler.stop()  # a job still running does not outlive the relay

    def beat(self) -> bool:
        """Record the relay's heartbeat if :data:`BEAT_INTERVAL` has passed; True when it was written.

        A failed write (Redis down) is retried on the next pass; the batch's own
        failure already logs the outage.
        """
        now = self._clock()
        if self._last_beat is not None and now - self._last_beat < BEAT_INTERVAL:
            return False
        try:
            metrics.record_heartbeat(self.broker.client, os.environ.get("FMS_PROCESS") or "relay",
                                     (HEARTBEAT_QUEUE,), time.time())
        except Exception as exc:  # noqa: BLE001 - keep moving events; the next pass beats again
            log.debug("relay heartbeat failed", extra={"error": repr(exc)})
            return False
        self._last_beat = now
        return True

    def _start_maintenance(self) -> None:
        """Run the due timers (:meth:`run_timers`) beside the loop, one at a time.

        A purge, a backup or the daily export of a large store takes seconds to
        minutes; events, deferred tasks and the webhook sweep keep moving meanwhile.
        """
        if self.scheduler is None or (self._maintenance is not None and self._maintenance.is_alive()):
            return
        self._maintenance = threading.Thread(target=self._maintain, name="relay-timers", daemon=True)
        self._maintenance.start()

    def _maintain(self) -> None:
        try:
            self.run_timers()
        except Exception as exc:  # noqa: BLE001 - the next due time tries again; the loop goes on
            metrics.RELAY_ERRORS.inc()
            log.warning("relay timers failed", extra={"error": repr(exc)})

    def run_timers(self) -> list[str]:
        """The timers due now, run to the end (the scheduler's job under supervisord)."""
        return self.scheduler.run_due() if self.scheduler is not None else []
