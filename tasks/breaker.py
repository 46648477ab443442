"""Circuit breakers per remote target (pybreaker), with their state in metrics.

A target that keeps failing is not called for ``FMS_BREAKER_RESET`` seconds:
deliveries to it are retried later instead of each waiting for a timeout,
which keeps worker threads free for healthy targets. One breaker per
``scheme://host:port`` per worker process.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import pybreaker

from tasks import metrics, runtime

STATE_VALUE = {"closed": 0, "half-open": 1, "open": 2}
_breakers: dict[str, pybreaker.CircuitBreaker] = {}
_lock = threading.Lock()


class TargetFailed(Exception):
    """A failure the breaker counts (network error, 408, 429, 5xx)."""


class _Metrics(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: object, new_state: object) -> None:
        metrics.BREAKER_STATE.labels(cb.name).set(STATE_VALUE.get(str(getattr(new_state, "name", new_state)), 0))


def target_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def breaker_for(target: str) -> pybreaker.CircuitBreaker:
    with _lock:
        cb = _breakers.get(target)
        if cb is None:
            s = runtime.settings()
            cb = pybreaker.CircuitBreaker(fail_max=s.breaker_fail_max, reset_timeout=s.breaker_reset, name=target,
                                          listeners=[_Metrics()], throw_new_error_on_trip=False)
            _breakers[target] = cb
            metrics.BREAKER_STATE.labels(target).set(0)
        return cb


def reset_all() -> None:
    """Forget every breaker (tests; a settings change)."""
    with _lock:
        _breakers.clear()
