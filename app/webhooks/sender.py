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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from standardwebhooks.webhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from app.webhooks.ssrf import UnsafeTarget

PeerGuard = Callable[[str], None]

RETRY_STATUSES = frozenset({408, 429})
USER_AGENT = "fms-webhooks/1"
_local = threading.local()


class _GuardedConnection(HTTPConnection):
    """Checks the address actually connected to, before a byte of the request is sent.

    The SSRF guard resolves the name before each delivery, but DNS may answer
    differently a moment later (rebinding); checking the socket's peer closes
    that gap.
    """

    def _new_conn(self) -> Any:
        sock = super()._new_conn()
        guard: PeerGuard | None = getattr(_local, "guard", None)
        if guard is not None:
            try:
                guard(sock.getpeername()[0])
            except UnsafeTarget:
                sock.close()
                raise
        return sock


class _GuardedHTTPSConnection(_GuardedConnection, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def _session() -> requests.Session:
    """One connection pool per thread (a Session is not meant to be shared across threads)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        for prefix in ("http://", "https://"):
            session.mount(prefix, _GuardedAdapter())
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


def deliver(url: str, secret: str, msg_id: str, payload: Any, timeout: float,
            guard: PeerGuard | None = None, request_id: str | None = None) -> Attempt:
    """POST the payload once; network errors are an ``Attempt`` too (outcome ``retry``).

    ``request_id``: the API request behind the event (kept with the delivery,
    not taken from the task: an endpoint's lane sends other deliveries too),
    sent as ``X-Request-ID`` so a receiver can quote it.

    ``guard`` sees the IP address of every new connection and may refuse it by
    raising :class:`UnsafeTarget` (outcome ``fail``: a refused target is final).
    """
    body = body_of(payload)
    headers = signed_headers(secret, msg_id, body)
    if request_id:
        headers["X-Request-ID"] = request_id
    start = time.perf_counter()
    _local.guard = guard
    try:
        resp = _session().post(url, data=body.encode(), headers=headers, timeout=timeout, allow_redirects=False)
    except UnsafeTarget as exc:
        return Attempt("fail", None, f"refused: {exc}", (time.perf_counter() - start) * 1000)
    except requests.RequestException as exc:
        return Attempt("retry", None, f"{type(exc).__name__}: {exc}"[:500], (time.perf_counter() - start) * 1000)
    finally:
        _local.guard = None
    elapsed = (time.perf_counter() - start) * 1000
    outcome = classify(resp.status_code)
    error = None if outcome == "ok" else f"HTTP {resp.status_code}: {resp.text[:200]}"
    return Attempt(outcome, resp.status_code, error, elapsed, parse_retry_after(resp.headers.get("Retry-After")))
