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
from typing import Any

from werkzeug.http import http_date

from app.auth import access
from app.auth.service import authenticate_once
from app.fastpath import Answer, Encoder, FastPath, WsgiApp
from app.services import Services

CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE")


class CachedFormReads(FastPath):
    """WSGI middleware: ``200`` for a plain, allowed ``GET`` of a form; everything else to ``inner``."""

    METHOD = "GET"
    PATH = re.compile(r"/api/v1/forms/([^/]+)")  # fullmatch: werkzeug's default converter, one segment
    ENDPOINT = "/api/v1/forms/<form_id>"

    def __init__(self, inner: WsgiApp, svc: Services, logger: Any, encode: Encoder) -> None:
        super().__init__(inner, logger, encode)
        self.svc = svc

    def takes(self, environ: dict[str, Any]) -> bool:
        return not environ.get("QUERY_STRING") and not any(h in environ for h in CONDITIONAL)

    def answer(self, form_id: str, environ: dict[str, Any], request_id: str) -> Answer | None:
        body = self._body(form_id, environ)
        if body is None:
            return None
        headers, payload = self._answer(body, environ.get("HTTP_ACCEPT_ENCODING", ""), request_id)
        return 200, headers, payload

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
