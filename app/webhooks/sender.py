"""One signed webhook HTTP attempt, classified (no broker, no web framework).

Signing is the Standard Webhooks scheme via the ``standardwebhooks``
package: ``webhook-id`` (the event id: stable across retries, so receivers
can de-duplicate), ``webhook-timestamp`` and ``webhook-signature``
(``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from standardwebhooks.webhooks import Webhook

RETRY_STATUSES = frozenset({408, 429})
USER_AGENT = "fms-webhooks/1"
_local = threading.local()


def _session() -> requests.Session:
    """One connection pool per thread (a Session is not meant to be shared across threads)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def body_of(payload: Any) -> str:
    """The exact bytes signed and sent: compact JSON of the snapshot taken at event time."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def signed_headers(secret: str, msg_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature,
            "content-type": "application/json", "user-agent": USER_AGENT}


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


@dataclass(frozen=True)
class Attempt:
    """What happened: ``ok``, ``retry`` (network, 408, 429, 5xx) or ``fail`` (other statuses)."""

    outcome: str
    status: int | None
    error: str | None
    duration_ms: float
    retry_after: float | None = None


def classify(status: int) -> str:
    if 200 <= status < 300:
        return "ok"
    if status in RETRY_STATUSES or status >= 500:
        return "retry"
    return "fail"


def deliver(url: str, secret: str, msg_id: str, payload: Any, timeout: float) -> Attempt:
    """POST the payload once; network errors are an ``Attempt`` too (outcome ``retry``)."""
    body = body_of(payload)
    headers = signed_headers(secret, msg_id, body)
    start = time.perf_counter()
    try:
        resp = _session().post(url, data=body.encode(), headers=headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return Attempt("retry", None, f"{type(exc).__name__}: {exc}"[:500], (time.perf_counter() - start) * 1000)
    elapsed = (time.perf_counter() - start) * 1000
    outcome = classify(resp.status_code)
    error = None if outcome == "ok" else f"HTTP {resp.status_code}: {resp.text[:200]}"
    return Attempt(outcome, resp.status_code, error, elapsed, parse_retry_after(resp.headers.get("Retry-After")))
