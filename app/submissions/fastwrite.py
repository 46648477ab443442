"""Submissions accepted before Flask's dispatch.

``POST /api/v1/forms/<id>/submissions`` is what a forms backend does most, and
under gunicorn Flask's machinery around it (request context, routing, five
hooks, the request and response objects, werkzeug's header checks) cost about
as much CPU as the durable write itself.

:class:`FastSubmissions` is a WSGI middleware in front of the Flask app, like
:class:`app.forms.fastread.CachedFormReads`. It runs in two phases:

1. **Checks, nothing written.** The bearer credential
   (:meth:`app.auth.service.AuthService.authenticate`), write access to the form
   (:func:`app.auth.access.check_form`), the ``Idempotency-Key``'s length, the
   body's media type, size and JSON, then
   :meth:`app.submissions.service.SubmissionService.prepare` — the very code the
   view runs, which validates the answers and answers an idempotent replay. Any
   refusal or error here hands the request, body included, to Flask untouched,
   and Flask answers it the usual way (its error shape, its metrics, its log
   line). A request the fast path does not know how to read (a query string,
   ``Content-Encoding``, chunked or oversized bodies, another media type) goes
   to Flask before anything is read.
2. **The write.** :meth:`~app.submissions.service.SubmissionService.commit`
   stores the submission, its outbox event and its idempotency record; from
   here the request is never handed on, so a write cannot run twice. A failure
   is answered here, in the error shape Flask's handlers use (500
   ``internal_error`` for anything unexpected, logged with its traceback).

The answer carries the view's headers, gzip-compressed the way Flask-Compress
would (the ``encode`` callable the factory passes in), is counted in the same
metrics and written to the same access line. ``tests/test_fastwrite.py`` sends
the same requests through both paths and compares the answers.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from app import fastjson
from app.auth import access
from app.errors import ApiError, error_document
from app.observability import context
from app.observability.logging import access_log
from app.observability.metrics import HTTP_ERRORS, observe_request
from app.services import Services
from app.submissions.service import Created, Pending

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
#: (Accept-Encoding, body) -> (Content-Encoding or None, body to send)
Encoder = Callable[[str, bytes], tuple[str | None, bytes]]

ENDPOINT = "/api/v1/forms/<form_id>/submissions"  # the view's URL rule: the metrics label both paths use
PATH = re.compile(r"/api/v1/forms/([^/]+)/submissions")  # fullmatch: one segment, as werkzeug's converter
IDEMPOTENCY_MAX = 255  # app.submissions.api.IDEMPOTENCY_MAX (that module imports Flask)
Answer = tuple[int, list[tuple[str, str]], bytes]


def _json_media_type(content_type: str) -> bool:
    """What :func:`app.http.json_body` accepts: ``application/json`` or any ``+json`` type."""
    mimetype = content_type.split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or mimetype.endswith("+json")


class FastSubmissions:
    """WSGI middleware: accepts a well-formed, allowed submission; hands everything else to ``inner``."""

    def __init__(self, inner: WsgiApp, svc: Services, logger: logging.Logger, max_body: int,
                 encode: Encoder) -> None:
        self.inner = inner
        self.svc = svc
        self.log = logger
        self.max_body = max_body
        self.encode = encode
        self.served = 0  # answered here, not by Flask (tests read it)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = PATH.fullmatch(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" else None
        raw = self._read_body(environ) if match is not None else None
        if match is None or raw is None:
            return self.inner(environ, start_response)
        started = time.perf_counter()
        request_id = context.request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        token = context.request_id.set(request_id)
        try:
            step = self._prepare(match.group(1), environ, raw)
            if step is None:
                return self.inner(environ, start_response)
            status, headers, body = self._write(step, match.group(1))
            encoding, body = self.encode(environ.get("HTTP_ACCEPT_ENCODING", ""), body)
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                        ("X-Request-ID", request_id), ("Vary", "Accept-Encoding")]
            if encoding is not None:
                headers.append(("Content-Encoding", encoding))
            start_response(f"{status} {HTTPStatus(status).phrase.upper()}", headers)  # spelled as werkzeug does
            self.served += 1
            elapsed = time.perf_counter() - started
            observe_request(ENDPOINT, "POST", status, elapsed)
            access_log(self.log, "POST", environ.get("PATH_INFO", ""), status, round(elapsed * 1000, 2))
            return [body]
        finally:
            context.request_id.reset(token)

    def _read_body(self, environ: dict[str, Any]) -> bytes | None:
        """The body, when the request is one the fast path can read as Flask would; else None, unread.

        Once read, the body is put back as ``wsgi.input``, so Flask sees the same bytes if the
        request is handed on after all.
        """
        length = environ.get("CONTENT_LENGTH", "")
        if (environ.get("QUERY_STRING") or "HTTP_CONTENT_ENCODING" in environ or "HTTP_TRANSFER_ENCODING" in environ
                or not length.isdigit() or not 0 < int(length) <= self.max_body
                or not _json_media_type(environ.get("CONTENT_TYPE", ""))):
            return None
        raw = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(raw)
        return raw if len(raw) == int(length) else None  # a short read: Flask reports the disconnect

    def _prepare(self, form_id: str, environ: dict[str, Any], raw: bytes) -> Pending | Created | None:
        """The checked submission (or an idempotent replay) when nothing stands in its way; else None."""
        scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        key = environ.get("HTTP_IDEMPOTENCY_KEY")
        bad_key = key is not None and not 1 <= len(key) <= IDEMPOTENCY_MAX
        if scheme.lower() != "bearer" or not value.strip() or bad_key:
            return None
        svc = self.svc
        try:
            principal = svc.auth.authenticate(value.strip())
            form = access.check_form(svc.store, principal, form_id, "write", svc.forms.live(form_id))
            body = fastjson.loads_standard(raw)
            return svc.submissions.prepare(form, body, principal.user_id, key, f"{form_id}:{principal.user_id}")
        except Exception:  # noqa: BLE001 - a refusal (ApiError, bad JSON) or a failing store, before any
            return None  # write: Flask answers it, with the error shape, its metrics and its log line

    def _write(self, step: Pending | Created, form_id: str) -> Answer:
        """Status, headers so far and body of the answer; the write happens here, and only here."""
        try:
            result = step if isinstance(step, Created) else self.svc.submissions.commit(step)
        except ApiError as exc:  # a concurrent retry with the same key and another body
            return self._error(exc.status, exc.code, exc.message, exc.details)
        except Exception:  # as Flask's handler of unexpected errors answers it
            logging.getLogger("app.errors").exception("unhandled error")
            return self._error(500, "internal_error", "internal server error", [])
        headers = [("Location", f"/api/v1/submissions/{result.body['id']}")]
        if result.replayed:
            headers.append(("Idempotent-Replayed", "true"))
        return result.status_code, headers, fastjson.dumps(result.body)

    @staticmethod
    def _error(status: int, code: str, message: str, details: Any) -> Answer:
        HTTP_ERRORS.labels(ENDPOINT, code).inc()
        return status, [], fastjson.dumps(error_document(code, message, details, context.request_id.get()))
