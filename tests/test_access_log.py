"""The access line's fast path writes exactly what the logging path writes, redaction included.

Why: :func:`app.observability.logging.access_log` skips the LogRecord when fms's
handler is the only destination; a field lost or a token left in a path there
would only show in production logs.
"""

from __future__ import annotations

import io
import json
import logging

from app.observability import context
from app.observability.logging import access_log, configure

TOKEN = "fml_" + "a" * 40


def _line(stream: io.StringIO) -> dict[str, object]:
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])  # type: ignore[no-any-return]


def test_fast_line_equals_the_logged_record_and_redacts_the_path() -> None:
    log = logging.getLogger("app.access")
    reset = context.request_id.set("trace-7")
    try:
        fast, slow = io.StringIO(), io.StringIO()
        configure("api", "INFO", "", stream=fast)
        access_log(log, "GET", f"/api/v1/public/{TOKEN}", 200, 1.25)
        configure("api", "INFO", "", stream=slow)
        log.info("request", extra={"method": "GET", "path": f"/api/v1/public/{TOKEN}", "status": 200,
                                   "duration_ms": 1.25})
    finally:
        context.request_id.reset(reset)
        configure("api", "INFO", "")
    got, expected = _line(fast), _line(slow)
    assert got == expected
    assert got["path"] == "/api/v1/public/[redacted]" and got["request_id"] == "trace-7"
    assert list(got) == ["timestamp", "level", "logger", "message", "service", "request_id", "method", "path",
                         "status", "duration_ms"]


def test_another_handler_gets_the_line_as_a_record() -> None:
    log = logging.getLogger("app.access")
    ours, records = io.StringIO(), []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    extra = Keep()
    configure("api", "INFO", "", stream=ours)
    logging.getLogger().addHandler(extra)
    try:
        access_log(log, "POST", "/api/v1/forms/f/submissions", 201, 2.0)
    finally:
        logging.getLogger().removeHandler(extra)
        configure("api", "INFO", "")
    assert _line(ours)["status"] == 201
    assert [(r.getMessage(), r.path, r.status) for r in records] == [  # type: ignore[attr-defined]
        ("request", "/api/v1/forms/f/submissions", 201)]


def test_nothing_is_written_below_the_level() -> None:
    stream = io.StringIO()
    configure("api", "WARNING", "", stream=stream)
    try:
        access_log(logging.getLogger("app.access"), "GET", "/health", 200, 0.1)
    finally:
        configure("api", "INFO", "")
    assert stream.getvalue() == ""
