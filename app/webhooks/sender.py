"""One signed webhook HTTP attempt, classified (no broker, no web framework).

Signing is the Standard Webhooks scheme via the ``standardwebhooks``
package: ``webhook-id`` (the event id: stable across retries, so receivers
can de-duplicate), ``webhook-timestamp`` and ``webhook-signature``
(``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
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


class _Deadline:
    """A wall-clock limit on one whole attempt: when it passes, the attempt's sockets are shut down.

    Why: requests' ``timeout`` bounds each connect and each read on its own, so
    a receiver that trickles its reply a byte at a time holds a send as long as
    it likes, past the delivery's claim lease, and another lane then sends the
    same delivery again. Shutting the socket down from a timer wakes the
    blocked read at once (EOF), whether it waits for the status line, headers
    or body, and the attempt ends as a network error.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._watched: list[Any] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()

    def watch(self, conn: Any, sock: socket.socket | None = None) -> None:
        """Shut ``sock`` and whatever socket ``conn`` holds then (TLS wraps the first) down at the deadline."""
        with self._lock:
            self._watched.append((conn, sock))
            expired = self.expired
        if expired:
            self._shut(conn, sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            watched = list(self._watched)
        for conn, sock in watched:
            self._shut(conn, sock)

    @staticmethod
    def _shut(conn: Any, sock: socket.socket | None) -> None:
        for s in (getattr(conn, "sock", None), sock):
            if s is not None:
                with contextlib.suppress(OSError):  # already closed, or detached by the TLS wrap
                    socket.socket.shutdown(s, socket.SHUT_RDWR)  # the fd itself, also under an SSLSocket


def _watch(conn: Any, sock: socket.socket | None = None) -> None:
    deadline: _Deadline | None = getattr(_local, "deadline", None)
    if deadline is not None:
        deadline.watch(conn, sock)


class _GuardedConnection(HTTPConnection):
    """Checks the address actually connected to, before a byte of the request is sent.

    The SSRF guard resolves the name before each delivery, but DNS may answer
    differently a moment later (rebinding); checking the socket's peer closes
    that gap. Every connection, new or reused from the pool, is also put under
    the attempt's :class:`_Deadline`.
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
        _watch(self, sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection: _new_conn is not called for it
            _watch(self)
        super().request(*args, **kwargs)


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

    ``timeout`` bounds the whole attempt by the wall clock (connect, send,
    status, headers and body together), not only each read, so an attempt
    never outlasts the claim lease the caller holds (see :class:`_Deadline`).

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
    _local.guard, _local.deadline = guard, _Deadline(timeout)
    try:
        with _local.deadline as deadline:
            resp = _session().post(url, data=body.encode(), headers=headers, timeout=timeout, allow_redirects=False)
    except UnsafeTarget as exc:
        return Attempt("fail", None, f"refused: {exc}", (time.perf_counter() - start) * 1000)
    except requests.RequestException as exc:
        why = f"no complete reply within {timeout:g} s; " if deadline.expired else ""
        return Attempt("retry", None, f"{why}{type(exc).__name__}: {exc}"[:500], (time.perf_counter() - start) * 1000)
    finally:
        _local.guard = _local.deadline = None
    elapsed = (time.perf_counter() - start) * 1000
    if deadline.expired:  # cut off mid-reply: what was parsed (a status, half the headers) proves nothing
        return Attempt("retry", None, f"no complete reply within {timeout:g} s", elapsed)
    outcome = classify(resp.status_code)
    error = None if outcome == "ok" else f"HTTP {resp.status_code}: {resp.text[:200]}"
    return Attempt(outcome, resp.status_code, error, elapsed, parse_retry_after(resp.headers.get("Retry-After")))
