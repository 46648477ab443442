"""Worker heartbeats as a Prometheus gauge, exported by the API's ``/metrics``.

Why through Redis and not the multiprocess directory: a heartbeat is only
useful once its writer is dead, and what the alert needs then is the *last*
time each (process, queue) was seen. The per-worker ``fms:heartbeat:*`` keys
expire with their worker, so each beat also records its time in one hash,
``fms:worker-last-heartbeat``, field ``<process>|<queue>`` (no TTL). The API
reads that hash on every scrape and exports
``fms_worker_last_heartbeat_timestamp_seconds{process, queue}``; the
``FmsWorkerHeartbeatMissing`` rule alerts on ``time() - that > 120``.
The outbox relay beats into the same hash as ``relay|outbox`` (``outbox`` is
no broker queue, just the label for what it moves: :data:`tasks.relay.HEARTBEAT_QUEUE`).
Reading goes through the broker Redis the workers write to, so it works
whether or not the processes share a metrics directory.

The writing side is :func:`tasks.metrics.record_heartbeat`. This module
imports neither Flask nor Dramatiq.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LAST_BEAT_KEY = "fms:worker-last-heartbeat"
METRIC = "fms_worker_last_heartbeat_timestamp_seconds"
HELP = "Unix time of the last heartbeat of any worker of this process serving this queue (read from Redis)."
LABELS = ("process", "queue")
# A (process, queue) not seen for this long is left out: a process renamed or
# removed from the tree stops alerting after a week without anyone cleaning up.
FORGET_AFTER = 7 * 86400

log = logging.getLogger(__name__)
_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def field(process: str, queue: str) -> str:
    """The hash field one (process, queue) pair beats into."""
    return f"{process}|{queue}"


def family() -> GaugeMetricFamily:
    """The (empty) metric family, also what :meth:`HeartbeatCollector.describe` declares."""
    return GaugeMetricFamily(METRIC, HELP, labels=list(LABELS))


def last_beats(client: redis.Redis, now: float | None = None) -> dict[tuple[str, str], float]:
    """``{(process, queue): unix time}`` for every pair seen within ``FORGET_AFTER``."""
    now = time.time() if now is None else now
    beats: dict[tuple[str, str], float] = {}
    for raw_field, raw_value in client.hgetall(LAST_BEAT_KEY).items():
        process, _, queue = _text(raw_field).partition("|")
        try:
            at = float(_text(raw_value))
        except ValueError:
            continue
        if queue and now - at <= FORGET_AFTER:
            beats[(process, queue)] = at
    return beats


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _client(url: str) -> redis.Redis:
    """One short-timeout client per URL: a scrape must not hang on a dead Redis."""
    with _lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        return _clients[url]


class HeartbeatCollector(Collector):
    """Collects the heartbeat gauge from the broker Redis at scrape time."""

    def __init__(self, redis_url: str = "") -> None:
        self.redis_url = redis_url  # empty: no broker configured, nothing to read

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [family()]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        metric = family()
        if self.redis_url:
            try:
                beats = last_beats(_client(self.redis_url))
            except redis.RedisError as exc:  # the series go absent; FmsWorkerHeartbeatsAbsent says so
                log.warning("heartbeats unreadable for /metrics", extra={"error": repr(exc)})
                beats = {}
            for (process, queue), at in sorted(beats.items()):
                metric.add_metric([process, queue], at)
        yield metric
