"""What the routes answered before Flask's dispatch share: matching, the request id, metrics, the access line.

:class:`app.forms.fastread.CachedFormReads` and
:class:`app.submissions.fastwrite.FastSubmissions` each answer one route in
front of the Flask app and hand everything else to it. Whatever answers, a
request must look the same from outside: the ``X-Request-ID`` it was given
(or a new one) in its log records, one ``observe_request`` under the view's
URL rule, one access line. :class:`FastPath` does that once; a subclass says
which requests it takes by their headers (:meth:`FastPath.takes`) and what it
answers (:meth:`FastPath.answer`, ``None`` to hand the request to Flask).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from werkzeug.http import HTTP_STATUS_CODES

from app.observability import context
from app.observability.logging import access_log
from app.observability.metrics import observe_request

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
#: (status, Accept-Encoding, body) -> (Content-Encoding or None, body to send)
Encoder = Callable[[int, str, bytes], tuple[str | None, bytes]]
#: status, headers, body
Answer = tuple[int, list[tuple[str, str]], bytes]


class FastPath:
    """WSGI middleware answering ``METHOD PATH`` itself when :meth:`answer` can; everything else to ``inner``."""

    METHOD: ClassVar[str]
    PATH: ClassVar[re.Pattern[str]]  # fullmatch against PATH_INFO; group 1 is the form id
    ENDPOINT: ClassVar[str]  # the view's URL rule: the metrics label both paths use

    def __init__(self, inner: WsgiApp, logger: Any, encode: Encoder) -> None:
        self.inner = inner
        self.log = logger
        self.encode = encode
        self.served = 0  # answered here, not by Flask (tests read it)
        self._count = threading.Lock()  # gthread workers answer on several threads

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        match = self.PATH.fullmatch(path) if environ.get("REQUEST_METHOD") == self.METHOD else None
        if match is None or not self.takes(environ):
            return self.inner(environ, start_response)
        started = time.perf_counter()
        request_id = context.request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        token = context.request_id.set(request_id)
        try:
            answer = self.answer(match.group(1), environ, request_id)
            if answer is None:
                return self.inner(environ, start_response)
            status, headers, body = answer
            start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}", headers)  # as werkzeug
            with self._count:
                self.served += 1
            elapsed = time.perf_counter() - started
            observe_request(self.ENDPOINT, self.METHOD, status, elapsed)
            access_log(self.log, self.METHOD, path, status, round(elapsed * 1000, 2))
            return [body]
        finally:
            context.request_id.reset(token)

    def takes(self, environ: dict[str, Any]) -> bool:
        """Whether the request is one this path reads as Flask would, judged by its headers alone."""
        raise NotImplementedError

    def answer(self, form_id: str, environ: dict[str, Any], request_id: str) -> Answer | None:
        """The answer, or None to hand the request to Flask (nothing may have been written then)."""
        raise NotImplementedError
