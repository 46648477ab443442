"""``/health``, ``/ready`` and ``/metrics`` (``/openapi.json`` and ``/docs``: :mod:`app.docs.api`)."""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path

from flask import Blueprint, Response, request

from app.ai import capacity
from app.ai.service import embedder_probe
from app.ai.service import ready_probe as models_ready
from app.errors import ApiError, Forbidden
from app.http import json_response, public, services
from app.observability.heartbeats import HeartbeatCollector
from app.observability.metrics import exposition
from app.observability.multiproc import base as multiproc_base
from app.observability.multiproc import scrape_dirs
from app.openapi import Operation
from app.services import Services
from app.settings import Settings

bp = Blueprint("health", __name__)


@bp.get("/health")
@public
def health() -> Response:
    """Liveness: the process answers. Nothing else is checked on purpose."""
    return json_response({"status": "ok"})


def _check(fn: object) -> dict[str, object]:
    """One probe's entry: ``ok`` and its time; a probe that returns a dict adds its details (``ok`` included)."""
    start = time.perf_counter()
    try:
        ok = fn()  # type: ignore[operator]
        ms = round((time.perf_counter() - start) * 1000, 2)
        if isinstance(ok, dict):
            return {**ok, "ok": bool(ok.get("ok")), "ms": ms}
        return {"ok": ok is not False, "ms": ms}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return {"ok": False, "error": type(exc).__name__}


# What /ready tells a caller without an admin credential: booleans, state enums, the queue depth and what
# "ok"/"loaded" mean. Everything else (the AI worker's host:pid, model file, sha256, load errors, exception
# names, the queue bound) only to an administrator: /ready is public, and those help an attacker, not a probe.
PUBLIC_CHECK_KEYS = frozenset({"ok", "ms", "loaded", "state", "depth", "means"})


@bp.get("/ready")
@public
def ready() -> Response:
    """Readiness: the store must answer; Redis being down only degrades."""
    svc = services()
    checks = {"store": _check(svc.store.ping), "redis": _check(svc.cache.ping)}
    for name, probe in READY_PROBES.items():
        checks[name] = _check(lambda p=probe: p(svc))
    status = "ok" if all(c["ok"] for c in checks.values()) else "degraded"
    if not checks["store"]["ok"]:
        status = "unavailable"
    if not _admin_asking(svc):
        checks = {name: {k: v for k, v in c.items() if k in PUBLIC_CHECK_KEYS} for name, c in checks.items()}
    return json_response({"status": status, "checks": checks}, 503 if status == "unavailable" else 200)


def _admin_asking(svc: Services) -> bool:
    """Whether this public view's caller sent an administrator's credential (only then the details).

    A missing, bad or non-admin credential is simply anonymous here, never a 401: probes
    and load balancers must keep getting their answer whatever header they send.
    """
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return False
    try:
        return svc.auth.authenticate(value.strip()).is_admin
    except ApiError:
        return False


def workers_ready(svc: Services) -> bool:
    """Workers' heartbeats, as the task system behind the dispatcher reads them."""
    return svc.dispatch.workers_ready()


def model_ready(svc: Services) -> dict[str, object]:
    """The model files and breakers (``ok``), and whether the AI worker has the LLM loaded (``means`` says so)."""
    return capacity.model_probe(svc, models_ready(svc))


# Other packages (workers' heartbeats, the model) add readiness probes here.
READY_PROBES: dict[str, object] = {"workers": workers_ready, "model": model_ready, "embedder": embedder_probe,
                                   "ai_queue": capacity.queue_probe}


@bp.get("/metrics")
@public
def metrics() -> Response:
    addr = request.remote_addr or ""
    if not services().settings.metrics_public and not _loopback(addr):
        raise Forbidden("metrics are served to loopback clients only")
    settings = services().settings
    body, content_type = exposition([HeartbeatCollector(settings.redis_url)],
                                    also_dirs=processes_metrics_dirs(settings))
    return Response(body, mimetype=content_type.split(";")[0], headers={"Cache-Control": "no-store"})


def processes_metrics_dirs(settings: Settings) -> list[Path]:
    """Every other process's multiprocess directory, merged with the API's own at each scrape.

    Each process of the tree writes ``<data_dir>/prometheus/<name>`` (app.observability.multiproc);
    the API's own is ``<data_dir>/prometheus/api`` under supervisord and its runtime directory
    (``/run/fms-api``) under systemd. A process started by hand without the tree's environment
    writes the base itself, so that is merged too; without these no worker metric (task latency,
    queue depth, inference) would ever be scraped.
    """
    return scrape_dirs(multiproc_base(Path(settings.data_dir)))


def _loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


OPERATIONS = (
    Operation("get", "/health", "health", "Liveness", public=True, response_example={"status": "ok"}),
    # the example is what an administrator sees; anonymous callers get PUBLIC_CHECK_KEYS of each check
    Operation("get", "/ready", "health", "Readiness of store, Redis, workers, model, embedder and the AI queue "
              "(engine details and the queue bound for administrators only)", public=True,
              response_example={"status": "degraded", "checks": {
                  "store": {"ok": True, "ms": 0.4}, "redis": {"ok": True, "ms": 0.3},
                  "workers": {"ok": False, "ms": 1.1},
                  "model": {"ok": True, "ms": 2.0, "loaded": True, "state": "loaded", "means": capacity.MODEL_MEANS,
                            "engine": {"state": "loaded", "model": "gemma-3-270m-q4_k_m.gguf",
                                       "model_sha256": "c2b6…", "load_ms": 812.4,
                                       "loaded_at": "2026-03-01T08:00:00Z", "error": None,
                                       "worker": "host-1:4242"}},
                  "embedder": {"ok": True, "ms": 0.6},
                  "ai_queue": {"ok": True, "ms": 0.3, "depth": 3, "max": 32}}}),
    Operation("get", "/metrics", "health", "Prometheus metrics (loopback clients only by default)", public=True),
)
