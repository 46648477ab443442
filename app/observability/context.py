"""The correlation id of the work in hand (an HTTP request or a task)."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("fms_request_id", default=None)

INCOMING_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id_for(incoming: str) -> str:
    """The client's ``X-Request-ID`` when it is a plain token of at most 128 characters, else a new id.

    One rule for every entry point (Flask's hook and the fast form read), so the
    same request gets the same id whichever path answers it.
    """
    return incoming if INCOMING_ID.fullmatch(incoming) else uuid.uuid4().hex
