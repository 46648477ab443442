"""A webhook receiver for tests and chaos runs: records every request, answers as scripted."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Tally:
    """The requests a receiver accepted (answered 200) at one path, checked as Standard Webhooks."""

    bodies: dict[str, set[bytes]] = field(default_factory=dict)  # by webhook-id; two bodies: a conflict
    seen: set[str] = field(default_factory=set)  # the submission ids the valid events name
    invalid: int = 0  # accepted requests whose signature did not verify


class Receiver:
    """HTTP server on 127.0.0.1:<free port>; ``script(path, [(status, headers), ...])`` sets replies.

    ``down(status)`` answers every request with ``status`` until ``down(None)``
    (an outage); ``slow(seconds)`` holds each reply that long, and
    ``max_active`` records the most requests served at once per path (what a
    per-endpoint concurrency limit must bound).
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.replies: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.lock = threading.Lock()
        self.outage: int | None = None
        self.hold = 0.0
        self.active: dict[str, int] = {}
        self.max_active: dict[str, int] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with owner.lock:
                    seen = {k.lower(): v for k, v in self.headers.items()}
                    queue = owner.replies.get(self.path) or []
                    status, headers = queue.pop(0) if queue else (owner.outage or 200, {})
                    owner.requests.append({"path": self.path, "headers": seen, "body": body, "at": time.time(),
                                           "status": status})
                    owner.active[self.path] = owner.active.get(self.path, 0) + 1
                    owner.max_active[self.path] = max(owner.max_active.get(self.path, 0), owner.active[self.path])
                    hold = owner.hold
                if hold:
                    time.sleep(hold)  # a slow receiver, so that concurrent requests overlap
                with owner.lock:
                    owner.active[self.path] -= 1
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, path: str, replies: list[tuple[int, dict[str, str]]]) -> None:
        with self.lock:
            self.replies[path] = list(replies)

    def down(self, status: int | None) -> None:
        """Answer every unscripted request with ``status`` (None: back to 200)."""
        with self.lock:
            self.outage = status

    def slow(self, seconds: float) -> None:
        with self.lock:
            self.hold = seconds

    def received(self, path: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if path is None or r["path"] == path]

    def tally(self, path: str, secret: str) -> Tally:
        """Verify every accepted request at ``path`` against ``secret``: what the chaos runs count."""
        from standardwebhooks.webhooks import Webhook

        verifier = Webhook(secret)
        result = Tally()
        for req in self.received(path):
            if req["status"] != 200:
                continue
            try:
                payload = verifier.verify(req["body"], req["headers"])
            except Exception:  # noqa: BLE001 - any verification failure counts as invalid
                result.invalid += 1
                continue
            result.bodies.setdefault(req["headers"]["webhook-id"], set()).add(req["body"])
            result.seen.add(payload["data"]["id"])
        return result
