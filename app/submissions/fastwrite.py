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

import contextlib
import functools
import io
import logging
import re
from dataclasses import dataclass
from typing import Any

from werkzeug.http import parse_options_header

from app import fastjson
from app.auth import access
from app.auth.service import Principal, authenticate_once
from app.errors import ApiError, error_document
from app.fastpath import Answer, Encoder, FastPath, WsgiApp
from app.observability import context
from app.observability.metrics import HTTP_ERRORS
from app.services import Services
from app.store import Record
from app.submissions.service import Created, Pending

IDEMPOTENCY_MAX = 255  # app.submissions.api.IDEMPOTENCY_MAX (that module imports Flask)


@functools.lru_cache(maxsize=64)
def _json_media_type(content_type: str) -> bool:
    """What :func:`app.http.json_body` accepts (``application/json`` or any ``+json`` type), parsed
    by werkzeug's own header parser, as Flask's ``request.mimetype`` is."""
    mimetype = parse_options_header(content_type)[0].lower()
    return mimetype == "application/json" or mimetype.endswith("+json")


@dataclass(frozen=True)
class _Caller:
    """Who is submitting to which form, with which key: what is known before the body is read."""

    principal: Principal
    form_id: str  # as the URL names it (the view's idempotency scope)
    form: Record
    idempotency_key: str | None


class FastSubmissions(FastPath):
    """WSGI middleware: accepts a well-formed, allowed submission; hands everything else to ``inner``."""

    METHOD = "POST"
    PATH = re.compile(r"/api/v1/forms/([^/]+)/submissions")  # fullmatch: one segment, as werkzeug's converter
    ENDPOINT = "/api/v1/forms/<form_id>/submissions"

    def __init__(self, inner: WsgiApp, svc: Services, logger: logging.Logger, max_body: int,
                 encode: Encoder) -> None:
        super().__init__(inner, logger, encode)
        self.svc = svc
        self.max_body = max_body

    def takes(self, environ: dict[str, Any]) -> bool:
        return self._readable(environ)

    def answer(self, form_id: str, environ: dict[str, Any], request_id: str) -> Answer | None:
        caller = self._caller(form_id, environ)  # before the body: a stranger's upload is not read
        raw = self._read_body(environ) if caller is not None else None
        step = self._prepare(caller, raw) if caller is not None and raw is not None else None
        if step is None:
            return None
        status, headers, body = self._write(step)
        encoding, body = self.encode(status, environ.get("HTTP_ACCEPT_ENCODING", ""), body)
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    ("X-Request-ID", request_id), ("Vary", "Accept-Encoding")]
        if encoding is not None:
            headers.append(("Content-Encoding", encoding))
        return status, headers, body

    def _readable(self, environ: dict[str, Any]) -> bool:
        """Whether the request is one the fast path reads as Flask would, judged by its headers alone."""
        length = environ.get("CONTENT_LENGTH", "")
        scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        key = environ.get("HTTP_IDEMPOTENCY_KEY")
        return not (environ.get("QUERY_STRING") or "HTTP_CONTENT_ENCODING" in environ
                    or "HTTP_TRANSFER_ENCODING" in environ
                    or not (length.isascii() and length.isdigit()) or not 0 < int(length) <= self.max_body
                    or not _json_media_type(environ.get("CONTENT_TYPE", ""))
                    or scheme.lower() != "bearer" or not value.strip()
                    or (key is not None and not 1 <= len(key) <= IDEMPOTENCY_MAX))

    def _caller(self, form_id: str, environ: dict[str, Any]) -> _Caller | None:
        """The caller when they may write to the form; else None, for Flask to refuse.

        What the credential check found (the principal, or its refusal) is left in the environ
        under :data:`app.auth.service.AUTHENTICATED`, so a request handed on is not authenticated a second time.
        """
        svc = self.svc
        principal = authenticate_once(svc.auth, environ, environ["HTTP_AUTHORIZATION"].partition(" ")[2].strip())
        if principal is None:
            return None
        try:
            form = access.check_form(svc.store, principal, form_id, "write", svc.forms.live(form_id))
        except Exception:  # noqa: BLE001 - a refusal (ApiError) or a failing store: Flask answers it
            return None
        return _Caller(principal, form_id, form, environ.get("HTTP_IDEMPOTENCY_KEY"))

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes | None:
        """The body, put back as ``wsgi.input`` so that Flask sees the same bytes if the request is
        handed on after all; None on a short or failed read (Flask then reports the disconnect)."""
        length = int(environ["CONTENT_LENGTH"])
        chunks: list[bytes] = []
        with contextlib.suppress(Exception):  # a reset connection: Flask gets what was read, and says so
            chunks.append(environ["wsgi.input"].read(length))
        raw = b"".join(chunks)
        environ["wsgi.input"] = io.BytesIO(raw)
        return raw if len(raw) == length else None

    def _prepare(self, caller: _Caller, raw: bytes) -> Pending | Created | None:
        """The checked submission (or an idempotent replay) when nothing stands in its way; else None."""
        form_id, user_id = caller.form_id, caller.principal.user_id
        try:
            body = fastjson.loads_standard(raw)
            return self.svc.submissions.prepare(caller.form, body, user_id, caller.idempotency_key,
                                                f"{form_id}:{user_id}")
        except Exception:  # noqa: BLE001 - a refusal (ApiError, bad JSON) or a failing store, before any
            return None  # write: Flask answers it, with the error shape, its metrics and its log line

    def _write(self, step: Pending | Created) -> Answer:
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
        HTTP_ERRORS.labels(FastSubmissions.ENDPOINT, code).inc()
        return status, [], fastjson.dumps(error_document(code, message, details, context.request_id.get()))
