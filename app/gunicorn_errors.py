"""Errors gunicorn answers itself, in the API's JSON error shape.

A request line over ``limit_request_line`` (414), headers over
``limit_request_field_size`` / ``limit_request_fields`` (431), a malformed
request line, method or HTTP version (400), a bad chunked body (400) and an
exception that escapes the WSGI app (500) never reach Flask: gunicorn's
worker writes them in ``Worker.handle_error`` through ``gunicorn.util.write_error``,
which has an HTML page built in. Gunicorn offers no setting for that page
(benoitc/gunicorn#993), and ``handle_error`` keeps its exception → status
table inline, so replacing that one writer in each worker is the smallest
change that keeps gunicorn's own status choice and logging while the body
follows the README's promise: ``{"error": {code, message, details, request_id}}``.

Imported only in workers (the ``post_worker_init`` hook of
:mod:`app.gunicorn_conf`): the master must not import application modules.
Nothing here imports Flask or the rest of the app.
"""

from __future__ import annotations

import json
import socket
import uuid

from gunicorn import util

# The codes the Flask error handlers would use for the same statuses.
CODES = {400: "bad_request", 403: "forbidden", 414: "uri_too_long", 417: "expectation_failed",
         431: "request_header_fields_too_large", 500: "internal_error", 501: "not_implemented"}


def error_response(status: int, reason: str, message: str) -> bytes:
    """The whole HTTP/1.1 response gunicorn sends before closing the connection."""
    request_id = uuid.uuid4().hex  # the request's own X-Request-ID was never parsed
    code = CODES.get(status, reason.lower().replace(" ", "_") or "error")
    text = message or ("internal server error" if status >= 500 else reason)
    body = json.dumps({"error": {"code": code, "message": text, "details": [], "request_id": request_id}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Request-ID: {request_id}\r\n\r\n")
    return head.encode("latin-1") + body


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error`` (same signature, same non-blocking write)."""
    util.write_nonblock(sock, error_response(status_int, reason, mesg))


def install() -> None:
    """Make this worker process answer gunicorn's own errors in JSON."""
    util.write_error = write_json_error
