"""Errors actors raise, and the rule that tells retryable failures from final ones.

Retryable: the world may be different next time (connection refused, a
timeout, HTTP 408/429/5xx, Redis or SMTP hiccups). Everything else — bad
input, 4xx, bugs — fails at once: retrying cannot help and only delays the
operator's view of the problem.
"""

from __future__ import annotations

import smtplib
import socket

import redis
import requests


class TaskError(Exception):
    """Base for errors an actor raises on purpose."""

    retryable = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, e.g. from an HTTP Retry-After header


class Retryable(TaskError):
    """Try again later (optionally not before ``retry_after`` seconds)."""

    retryable = True


class Permanent(TaskError):
    """Retrying cannot help: fail the task now."""


class TaskCancelled(Exception):
    """Raised inside a running task whose cancellation was requested."""


RETRYABLE_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    socket.timeout,
    redis.ConnectionError,
    redis.TimeoutError,
    requests.ConnectionError,
    requests.Timeout,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
)


def is_retryable(exc: BaseException) -> bool:
    """True when a later attempt may succeed (see the module docstring)."""
    if isinstance(exc, TaskError):
        return exc.retryable
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, RETRYABLE_TYPES)


def retry_after_of(exc: BaseException) -> float | None:
    return getattr(exc, "retry_after", None)
