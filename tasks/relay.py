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

The loop also runs the small scheduled job of the task system: purging
finished task records past retention (hourly).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dramatiq.common import current_millis
from dramatiq.message import Message

from app.util import new_id, now_iso
from tasks import metrics
from tasks.deferred import DEFERRED_TOPIC, deferred_message
from tasks.routing import queue_for
from tasks.webhooks import Sweeper

log = logging.getLogger("tasks.relay")

# Which actors hear about which topic (the fan-out actors decide per endpoint/recipient).
# Which actors each outbox topic becomes: the one routing table for events.
TOPIC_ACTORS: dict[str, tuple[str, ...]] = {
    # hooks.ai_embed (default queue) embeds the submission only when its form enables it.
    "submission.created": ("webhook.fanout", "email.submission", "hooks.ai_embed"),
    "submission.updated": ("webhook.fanout",),
    "submission.status_changed": ("webhook.fanout",),
    "submission.deleted": ("webhook.fanout",),
    "submission.restored": ("webhook.fanout",),
    "ai.completed": ("webhook.fanout",),
}
PURGE_EVERY = 3600.0


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
                 retention_days: int = 30, deleted_retention_days: int = 30,
                 export_dir: Path | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.broker = store, broker
        self.batch, self.interval, self.retention_days = batch, interval, retention_days
        self.stop = threading.Event()
        # When maintenance last ran, on ``clock``; None until the first run. Not 0.0: the
        # monotonic clock counts from boot, so "an hour since 0.0" skipped the first hour of uptime.
        self._clock = clock
        self._last_purge: float | None = None
        self._webhook_sweeper = Sweeper(clock)
        self._maintenance: threading.Thread | None = None
        self._recent = RecentlySent(clock)
        self.deleted_retention_days = deleted_retention_days
        self.export_dir = export_dir

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
        log.info("relay started", extra={"batch": self.batch})
        while not self.stop.is_set():
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

    def _maybe_export(self) -> None:
        """Yesterday's export, once (the scheduler's job under supervisord).

        The systemd timer runs ``fms export`` as well; both write the same
        marker and the export is idempotent, so whichever runs first wins.
        """
        if self.export_dir is None:
            return
        from etl.export import due_day, export_day, marker

        day = due_day()
        if marker(self.export_dir, day).exists():
            return
        results = export_day(self.store, day, self.export_dir)
        log.info("daily export", extra={"date": day.isoformat(), "rows": sum(r.rows for r in results)})

    def _start_maintenance(self) -> None:
        """Run :meth:`_maybe_purge` beside the loop, one at a time.

        A purge or the daily export of a large store takes seconds to minutes;
        events, deferred tasks and the webhook sweep must keep moving meanwhile.
        """
        if self._maintenance is not None and self._maintenance.is_alive():
            return
        self._maintenance = threading.Thread(target=self._maintain, name="relay-maintenance", daemon=True)
        self._maintenance.start()

    def _maintain(self) -> None:
        try:
            self._maybe_purge()
        except Exception as exc:  # noqa: BLE001 - the next hour tries again; the loop goes on
            metrics.RELAY_ERRORS.inc()
            log.warning("relay maintenance failed; tries again in an hour", extra={"error": repr(exc)})

    def _maybe_purge(self) -> None:
        """Hourly maintenance, the first time at once: purges, then the daily export."""
        now = self._clock()
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now
        purged = self.store.purge_tasks(now_iso(-self.retention_days * 86400))
        if purged:
            log.info("purged task records", extra={"count": purged})
        # Soft-deleted submissions past retention (the scheduler's job under supervisord;
        # systemd also has fms-purge.timer — running both is harmless).
        gone = self.store.purge_submissions(now_iso(-self.deleted_retention_days * 86400))
        if gone:
            log.info("purged soft-deleted submissions", extra={"count": gone})
        self._maybe_export()
