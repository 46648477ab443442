"""Actors used by the task tests (imported by in-process and subprocess workers alike)."""

from __future__ import annotations

import logging
import time

import redis

from tasks import runtime
from tasks.broker import actor
from tasks.errors import Permanent, Retryable
from tasks.progress import progress

log = logging.getLogger("tests.tasks.actors")


def _redis() -> redis.Redis:
    return redis.Redis.from_url(runtime.settings().redis_url)


@actor("validate.echo", track=True)
def echo(value: str) -> dict[str, str]:
    log.info("echo running", extra={"value": value})
    _redis().rpush("test:echo", value)
    return {"echo": value}


@actor("test.flaky", track=True, max_retries=3)
def flaky(key: str, fail_times: int, kind: str = "retryable") -> str:
    """Fails ``fail_times`` times (retryable or permanent), then succeeds; records each attempt's time."""
    r = _redis()
    attempt = r.incr(f"test:attempts:{key}")
    r.rpush(f"test:times:{key}", repr(time.time()))
    if attempt <= fail_times:
        if kind == "permanent":
            raise Permanent("bad input")
        if kind == "connection":
            raise ConnectionError("target refused")
        raise Retryable("try later")
    return f"ok after {attempt}"


@actor("ai.slow", track=True, max_retries=0)
def slow(key: str, seconds: float) -> str:
    """Loops in small steps, reporting progress; waits for ``test:go:<key>`` before each half."""
    r = _redis()
    deadline = time.monotonic() + seconds
    r.set(f"test:started:{key}", "1")
    steps = 0
    while time.monotonic() < deadline:
        steps += 1
        if steps % 5 == 0:
            progress(min(99.0, 100 * (1 - (deadline - time.monotonic()) / seconds)), note=f"step {steps}")
        time.sleep(0.02)
    return "done"


@actor("system.untracked_fail", max_retries=0)
def untracked_fail() -> None:
    raise Permanent("nobody asked for a record, but a failure gets one")


@actor("test.long", max_retries=0)
def long_task(key: str, seconds: float) -> None:
    """Counts its starts: a second start means the broker handed the message to another worker."""
    _redis().incr(f"test:long:{key}")
    time.sleep(seconds)
    _redis().rpush(f"test:long_done:{key}", "1")


@actor("test.gated", track=True, max_retries=0)
def gated(key: str) -> int:
    """Counts its runs, then waits for a token on ``test:gate:<key>``: two runs at once would count 2."""
    r = _redis()
    runs = int(r.incr(f"test:gated:{key}"))
    for _ in range(30):  # short blocking waits: the client's socket timeout may be shorter than 30 s
        if r.blpop([f"test:gate:{key}"], timeout=1):
            break
    return runs
