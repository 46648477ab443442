"""How much AI work the host can take: the ``ai`` queue's bound and the AI worker's engine state.

Bounded inference (seed 004 FR6.2). The ``ai`` queue is served by one serial
worker, so every message in it is a wait for the ones behind. Past
``FMS_AI_QUEUE_MAX`` messages (waiting, delayed retries and the running one,
as the dispatcher reads them from the broker in one round trip) fill and
summarize answer ``503 ai_queue_full`` with a ``Retry-After`` *before*
anything is written: no task record, no outbox row. ``Retry-After`` is the
time the worker needs to bring the queue back under the bound at its recent
pace (``(depth - bound + 1) x recent job seconds``), kept within
``[RETRY_AFTER_MIN, RETRY_AFTER_MAX]``.

Not counted: ``ai.embed``, which has its own ``embed`` queue (``tasks.routing``):
it waits on the embedder, not on the AI worker, and retries for about an hour
while the embedder is down, so counting it would refuse every fill meanwhile.
Nor work deferred to the outbox while Redis is down. The depth cannot
be read then, and counting those rows would cost a store scan per request in
the one situation where the store is under the most pressure; the call is
accepted as the README promises, the relay moves it into the queue once Redis
is back, and from then on it counts like any other message (new calls get 503
until the worker has caught up).

Engine state. The AI worker publishes what its engine processes hold (loaded,
loading or failed; model file and sha256; load time; its recent job time) under
one short-lived key in the cache Redis (:func:`publish_engine_state`), renewed
every few seconds while it lives, so ``/ready`` can say whether the model is
*loaded* rather than only whether its file is readable, and a dead worker's
report expires with it. Several AI workers overwrite one another: the report is
the most recent one. This module imports neither Flask nor Dramatiq.
"""

from __future__ import annotations

import json
import math
from typing import Any

from app.cache import Cache
from app.errors import ApiError
from app.settings import Settings

QUEUE = "ai"
ENGINE_NS = "ai-engine"
ENGINE_KEY = "worker"
DEFAULT_JOB_S = 5.0  # before any worker has reported: a fill takes ~1-5 s on 2 cores
RETRY_AFTER_MIN = 1
RETRY_AFTER_MAX = 120
MODEL_MEANS = ("ok: the configured model files are present and valid and no AI engine's circuit breaker is open "
               "(nor has the AI worker failed to load the LLM); loaded: an AI worker reported the LLM loaded in "
               "its engine process within the last FMS_WORKER_HEARTBEAT_TTL seconds (it loads on the first AI job "
               "and stays loaded)")


class AIQueueFull(ApiError):
    """503 ``ai_queue_full``: the ``ai`` queue is at its bound; ``Retry-After`` says when to come back."""

    status, code = 503, "ai_queue_full"

    def __init__(self, depth: int, bound: int, retry_after: int) -> None:
        message = (f"the AI queue is full ({depth} of at most {bound} jobs waiting or running); "
                   f"retry in {retry_after} s")
        super().__init__(message, [{"pointer": "ai_queue", "message": message, "depth": depth, "max": bound,
                                    "retry_after": retry_after}])
        self.retry_after = retry_after


# -- engine state (written by the AI worker, read by the API) -----------------------------------
def publish_engine_state(cache: Cache, report: dict[str, Any], ttl: int) -> None:
    """The AI worker's report (see the module docstring); it expires unless renewed within ``ttl`` s."""
    cache.set(ENGINE_NS, ENGINE_KEY, json.dumps(report, default=str).encode(), ttl=max(1, ttl))


def engine_state(cache: Cache) -> dict[str, Any] | None:
    """The last live AI worker's report, or None (no AI worker alive, none has reported, cache down)."""
    raw = cache.get(ENGINE_NS, ENGINE_KEY)
    if raw is None:
        return None
    try:
        report = json.loads(raw)
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def llm_state(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The LLM engine's part of a worker report."""
    return ((report or {}).get("engines") or {}).get("llama")


# -- the bound ------------------------------------------------------------------------------------
def retry_after_s(depth: int, bound: int, job_s: float | None) -> int:
    """Seconds until the queue is back under ``bound`` at ``job_s`` per job (bounded, at least 1)."""
    per_job = job_s if job_s and job_s > 0 else DEFAULT_JOB_S
    over = max(1, depth - bound + 1)
    return int(min(RETRY_AFTER_MAX, max(RETRY_AFTER_MIN, math.ceil(over * per_job))))


def queue_depth(svc: Any) -> int | None:
    """The ``ai`` queue's depth as the dispatcher reads it from the broker; None when unknown."""
    return svc.dispatch.queue_depth(QUEUE)


def require_room(settings: Settings, svc: Any) -> None:
    """Raise :class:`AIQueueFull` when the ``ai`` queue holds ``FMS_AI_QUEUE_MAX`` messages or more.

    Called before any write, so a refused call leaves nothing behind. An
    unknown depth (Redis down) lets the call through to the outbox (module docstring).
    """
    bound = settings.ai_queue_max
    if bound <= 0:
        return
    depth = queue_depth(svc)
    if depth is None or depth < bound:
        return
    report = engine_state(svc.cache)
    raise AIQueueFull(depth, bound, retry_after_s(depth, bound, (report or {}).get("job_s")))


# -- /ready ---------------------------------------------------------------------------------------
def queue_probe(svc: Any) -> dict[str, Any]:
    """``/ready`` "ai_queue": its depth and bound; ok while AI calls are accepted (depth under the bound)."""
    bound = svc.settings.ai_queue_max
    depth = queue_depth(svc)
    ok = depth is not None and (bound <= 0 or depth < bound)
    return {"ok": ok, "depth": depth, "max": bound or None}


def model_probe(svc: Any, files_ok: bool) -> dict[str, Any]:
    """``/ready`` "model": ``files_ok`` (files valid, breakers closed) plus what the AI worker holds."""
    report = engine_state(svc.cache)
    llm = llm_state(report)
    state = (llm or {}).get("state") or ("not_loaded" if report else "unknown")
    engine = None
    if llm:
        engine = {k: llm.get(k) for k in ("state", "model", "model_sha256", "load_ms", "loaded_at", "error")}
        engine["worker"] = (report or {}).get("worker")
    return {"ok": bool(files_ok) and state != "failed", "loaded": state == "loaded", "state": state,
            "engine": engine, "means": MODEL_MEANS}
