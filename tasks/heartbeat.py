"""Worker heartbeats as ``/ready`` reads them (the writing side is tasks.middleware.Heartbeat).

Each worker process keeps ``fms:heartbeat:<host>:<pid>`` alive in the broker
Redis with a short TTL; a worker that dies simply stops renewing it. A
heartbeat names its process (``process``: ``FMS_PROCESS``, which both renderers
of the process tree set, e.g. ``worker-high``) and the queues it serves. This
module only reads, so the API can import it without Dramatiq.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import redis

from tasks.routing import QUEUES

HEARTBEAT_PREFIX = "fms:heartbeat:"
# Seconds between two beats of one process: tasks.middleware.Heartbeat's default, and the relay's.
BEAT_INTERVAL = 1.0
EXPECTED_QUEUES = QUEUES  # every routed queue needs a live worker
_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def _client(url: str) -> redis.Redis:
    with _lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        return _clients[url]


def live_workers(client: redis.Redis) -> list[dict[str, Any]]:
    """The heartbeats currently alive, one dict per worker process."""
    keys = list(client.scan_iter(match=f"{HEARTBEAT_PREFIX}*", count=500))
    if not keys:
        return []
    return [json.loads(v) for v in client.mget(keys) if v is not None]


def queues_served(workers: list[dict[str, Any]]) -> set[str]:
    return {q for w in workers for q in w.get("queues", ())}


def ready_probe(svc: Any) -> bool:
    """``/ready``: True when every expected queue has at least one live worker."""
    url = svc.settings.redis_url
    if not url:
        return False
    served = queues_served(live_workers(_client(url)))
    return all(q in served for q in EXPECTED_QUEUES)
