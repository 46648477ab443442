"""The webhook retry policy as pure functions: no store, broker or clock of their own.

Why pure: the schedule, the circuit-breaker postponement and the disable
rule decide whether an event reaches its receiver a day later; they are
unit-tested with an injected clock and random source, and the actor and the
service only feed them numbers.

* Each delivery follows ``FMS_WEBHOOK_RETRY_SCHEDULE``: entry *i* is the
  delay before attempt *i + 1* (the first is the initial attempt, normally
  0). After attempt *n* of an *n*-entry schedule the delivery is ``failed``,
  unless its endpoint is in an outage (:func:`in_outage`): then the last step
  repeats until the endpoint is disabled, because the schedule (about a day)
  is shorter than the disable window (days) and an outage in between would
  otherwise fail every delivery of an endpoint that is still active.
* An open circuit is not an attempt: the delivery waits for the breaker's
  reset plus jitter (so a backlog does not return in one wave) and keeps its
  attempt count.
* An endpoint is disabled only when it has failed for a long time *and* many
  times in a row (a burst reaches any count within seconds).
"""

from __future__ import annotations

import random
import re

UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
SCHEDULE_JITTER = 0.1  # up to +10 % of a step, so failed deliveries of one burst spread out
MAX_RETRY_AFTER = 86_400.0  # a receiver's Retry-After is honoured up to a day
MAX_ATTEMPTS = 100


def parse_duration(text: str) -> float:
    """``"90"``, ``"5s"``, ``"5m"``, ``"2h"``, ``"5d"``, ``"250ms"`` as seconds."""
    match = _DURATION.match(text or "")
    if match is None:
        raise ValueError(f"{text!r} is not a duration (a number with an optional unit ms, s, m, h or d)")
    return float(match.group(1)) * UNITS[match.group(2) or ""]


def parse_schedule(text: str) -> tuple[float, ...]:
    """The comma-separated delays of a retry schedule, in seconds (at least one, at most 100)."""
    steps = tuple(parse_duration(part) for part in (text or "").split(","))
    if not 1 <= len(steps) <= MAX_ATTEMPTS:
        raise ValueError(f"a retry schedule has 1 to {MAX_ATTEMPTS} entries")
    return steps


def next_delay(schedule: tuple[float, ...], attempts_made: int, retry_after: float | None = None,
               rng: random.Random | None = None, repeat_last: bool = False) -> float | None:
    """Seconds until the next attempt after ``attempts_made`` attempts, or None when the schedule is spent.

    ``repeat_last``: past its end the schedule repeats its last step (an
    endpoint outage), except a last step of 0, which would be a busy loop.
    A ``Retry-After`` from the receiver lengthens the wait (never shortens it).
    """
    if attempts_made >= len(schedule) and not (repeat_last and schedule[-1] > 0):
        return None
    step = schedule[min(attempts_made, len(schedule) - 1)]
    delay = step + step * SCHEDULE_JITTER * (rng or random).random()
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def in_outage(failing_since: float | None, now: float, window: float) -> bool:
    """True when the endpoint has answered no delivery successfully for at least ``window`` seconds.

    ``window`` is the schedule's last step, so a delivery whose schedule ends
    while others to the same endpoint succeed meanwhile is one event the
    receiver keeps rejecting (it fails on its own); when nothing succeeded
    since its previous attempt, the endpoint is down and the delivery waits on.
    """
    return failing_since is not None and now - failing_since >= window


def breaker_wait(remaining: float, reset: float, rng: random.Random | None = None) -> float:
    """How long a delivery postponed by an open circuit waits: the rest of the reset, plus up to half a reset.

    The jitter spreads a backlog over the half-open period instead of sending
    it all at the instant the breaker lets a trial call through.
    """
    return max(0.0, remaining) + 0.5 * max(reset, 0.1) * (rng or random).random()


def should_disable(failures: int, failing_since: float | None, now: float, min_attempts: int,
                   after_seconds: float) -> bool:
    """True when the endpoint has failed ``min_attempts`` times in a row over at least ``after_seconds``."""
    if failing_since is None or failures < min_attempts:
        return False
    return now - failing_since >= after_seconds
