"""Circuit breakers per remote target (pybreaker), with their state in metrics.

A target that keeps failing is not called for ``FMS_BREAKER_RESET`` seconds:
deliveries to it are retried later instead of each waiting for a timeout,
which keeps worker threads free for healthy targets. One breaker per
``scheme://host:port`` per worker process.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlsplit

import pybreaker

from tasks import metrics, runtime

T = TypeVar("T")
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


def open_remaining_s(cb: pybreaker.CircuitBreaker) -> float:
    """Seconds until an open ``cb`` lets a trial call through; 0.0 when it is not open (or is due one)."""
    if cb.current_state != "open":
        return 0.0
    opened = cb._state_storage.opened_at  # pybreaker keeps it there; no public accessor
    if opened is None:
        return 0.0
    return max(0.0, cb.reset_timeout - (datetime.now(UTC) - opened).total_seconds())


def call_concurrently(cb: pybreaker.CircuitBreaker, fn: Callable[[], T]) -> T:
    """``cb.call(fn)`` without holding the breaker's lock while ``fn`` runs.

    Why: pybreaker runs the guarded call under its lock, so threads of one
    worker that share a target queue behind a hung call, each then waiting
    out its own timeout, instead of failing fast once the circuit opens. Here
    an open circuit raises :class:`pybreaker.CircuitBreakerError` at once, the
    call runs unlocked, and only its outcome passes through ``cb`` (a failure
    counts and may open it; a half-open trial that succeeds closes it). An
    exception that is not an ``Exception`` (a time limit, a shutdown) is not
    counted. A success that lands while another thread has just opened the
    circuit still returns its result.
    """
    if open_remaining_s(cb) > 0:
        raise pybreaker.CircuitBreakerError("circuit open: the target failed repeatedly")
    try:
        result = fn()
    except Exception as exc:
        failure = exc

        def fail() -> None:
            raise failure

        cb.call(fail)  # raises: the failure, or CircuitBreakerError if another thread opened the circuit
        raise  # pragma: no cover - cb.call always raises here
    with contextlib.suppress(pybreaker.CircuitBreakerError):
        cb.call(lambda: None)
    return result


def reset_all() -> None:
    """Forget every breaker (tests; a settings change)."""
    with _lock:
        _breakers.clear()
