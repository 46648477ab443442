"""Cached form reads answered before Flask's dispatch.

``GET /api/v1/forms/<id>`` is the hottest read of a forms backend: every client
fetches the form to render it, and the answer is a body already kept in this
process (:meth:`app.forms.service.FormService.cached_body`). Flask's request
machinery around that lookup (request context, routing, hooks, the response
object and its header checks) cost about three times the lookup itself.

:class:`CachedFormReads` is a WSGI middleware in front of the Flask app. For a
plain ``GET`` of one form it runs **the same checks the view runs**, through
the same services: the bearer credential
(:meth:`app.auth.service.AuthService.authenticate`, whose per-process copy is
dropped on any revoke), the per-form access rules
(:func:`app.auth.access.check_form`, shares read live) and the cached body; it
then answers with the headers the view's response carries (gzip-compressed as
Flask-Compress would, by its own functions), counts the request in the same
metrics and writes the same access line. Anything else goes to Flask untouched:
another path or method, a query string, a conditional request
(``If-None-Match``/``If-Modified-Since``) and every failure (401, 403, 404 and
errors), which Flask then answers with its usual error shape. So the fast path can only ever say "200, here is the form"
where Flask would say exactly that; ``tests/test_fastread.py`` sends the same
requests through both and compares the answers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import http_date

from app.auth import access
from app.auth.service import authenticate_once
from app.observability import context
from app.observability.logging import access_log
from app.observability.metrics import observe_request
from app.services import Services
from app.submissions.fastwrite import Encoder

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

ENDPOINT = "/api/v1/forms/<form_id>"  # the view's URL rule: the metrics label both paths use
PATH = re.compile(r"/api/v1/forms/([^/]+)")  # fullmatch: werkzeug's default converter, one segment
CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE")


class CachedFormReads:
    """WSGI middleware: ``200`` for a plain, allowed ``GET`` of a form; everything else to ``inner``."""

    def __init__(self, inner: WsgiApp, svc: Services, logger: Any, encode: Encoder) -> None:
        self.inner = inner
        self.svc = svc
        self.log = logger
        self.encode = encode
        self.served = 0  # answered here, not by Flask (tests read it)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = PATH.fullmatch(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "GET" else None
        if match is None or environ.get("QUERY_STRING") or any(h in environ for h in CONDITIONAL):
            return self.inner(environ, start_response)
        started = time.perf_counter()
        request_id = context.request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        token = context.request_id.set(request_id)
        try:
            body = self._body(match.group(1), environ)
            if body is None:
                return self.inner(environ, start_response)
            headers, payload = self._answer(body, environ.get("HTTP_ACCEPT_ENCODING", ""), request_id)
            start_response("200 OK", headers)
            self.served += 1
            elapsed = time.perf_counter() - started
            observe_request(ENDPOINT, "GET", 200, elapsed)
            access_log(self.log, "GET", environ.get("PATH_INFO", ""), 200, round(elapsed * 1000, 2))
            return [payload]
        finally:
            context.request_id.reset(token)

    def _body(self, form_id: str, environ: dict[str, Any]) -> bytes | None:
        """The cached body when the caller may read the form and needs nothing Flask adds; else None."""
        scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        svc = self.svc
        principal = authenticate_once(svc.auth, environ, value.strip())
        if principal is None:
            return None
        try:
            form = access.check_form(svc.store, principal, form_id, "read", svc.forms.live(form_id))
            body = svc.forms.cached_json(form)
        except Exception:  # noqa: BLE001 - a refusal (ApiError) or a failing store: Flask answers it,
            return None  # with the error shape, the request id, its metrics and its log line
        return body

    def _answer(self, body: bytes, accept_encoding: str, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
        """The view's headers and the body, compressed as Flask-Compress would compress it (which
        also suffixes the ETag with the encoding and, through its conditional check, adds ``Date``)."""
        etag = body.etag  # type: ignore[attr-defined]
        encoding, payload = self.encode(200, accept_encoding, body)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                   ("ETag", f'"{etag}:{encoding}"' if encoding else f'"{etag}"'),
                   ("Cache-Control", "private, no-cache"), ("Vary", "Authorization, Accept-Encoding"),
                   ("X-Request-ID", request_id)]
        if encoding is not None:
            headers += [("Content-Encoding", encoding), ("Date", http_date())]
        return headers, payload
