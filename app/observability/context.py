"""The correlation id of the work in hand (an HTTP request or a task)."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("fms_request_id", default=None)
