"""The routing table: which queue an actor runs on, decided by its name's prefix.

Real priority comes from separate queues with their own worker processes
(Dramatiq's ``priority`` only orders messages a worker already fetched), so
the name of an actor is all it takes to put it on the right workers.
"""

from __future__ import annotations

from app.settings import parse_time_limits as settings_time_limits

# (prefix, queue): the longest matching prefix wins; no match means DEFAULT_QUEUE.
# One row per prefix some actor uses (tests.tasks.test_relay_routing checks it).
ROUTES: tuple[tuple[str, str], ...] = (
    ("ai.", "ai"),
    # embeddings wait on the embedder, not on the model: off the serial AI worker and out of the ai queue's
    # bound (FMS_AI_QUEUE_MAX), so hours of retries while the embedder is down never refuse a fill
    ("ai.embed", "embed"),
    ("webhook.", "default"),
    ("email.", "default"),
    ("hooks.", "default"),  # reactions to events, e.g. hooks.ai_embed deciding whether to embed
    ("analytics.", "analytics"),  # exports, admin SQL, summaries too big for the API
    ("validate.", "high"),
    ("system.", "high"),
)
DEFAULT_QUEUE = "default"
# Every queue an actor can land on, in first-routed order: what the process tree's
# workers must serve (tests/test_processes.py) and what /ready expects (tasks.heartbeat).
QUEUES: tuple[str, ...] = tuple(dict.fromkeys([*(queue for _, queue in ROUTES), DEFAULT_QUEUE]))


def queue_for(actor_name: str) -> str:
    """The queue of ``actor_name`` according to :data:`ROUTES`."""
    best, queue = -1, DEFAULT_QUEUE
    for prefix, target in ROUTES:
        if actor_name.startswith(prefix) and len(prefix) > best:
            best, queue = len(prefix), target
    return queue


def parse_time_limits(spec: str) -> dict[str, int]:
    """``"high=60,ai=300"`` → milliseconds per queue; unknown queues are an error."""
    limits = settings_time_limits(spec)
    for name in limits:
        if name not in QUEUES:
            raise ValueError(f"unknown queue {name!r} in time limits")
    return limits
