"""JSON logs: one line per event with timestamp, level, service and request id.

Secrets never reach a handler: :class:`RedactFilter` masks credential-looking
strings in messages and any ``extra`` field whose name marks it as secret or
personal (password, token, authorization, answers…).

Why a formatter of our own: every API request writes one access line, and
python-json-logger plus a filter that rewrote every attribute of every record
cost as much CPU as Flask's own request handling. :class:`JsonLineFormatter`
writes the same fields in the same order with orjson, and the filter touches
only the ``extra`` fields a record carries.
"""

from __future__ import annotations

import base64
import logging
import re
import sys
import time
from typing import Any

import orjson

from app.observability.context import request_id

SECRET_KEYS = frozenset({
    "password", "passwd", "secret", "token", "authorization", "api_key", "key", "cookie",
    "answers", "text", "set-cookie",
})
TOKEN_RE = re.compile(r"(fms_[A-Za-z0-9_\-]{16,}|fmt_[A-Za-z0-9_\-]{16,}|fml_[A-Za-z0-9_\-]{16,}|Bearer\s+\S+)")
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_CONTEXT = frozenset({"service", "request_id"})  # set by ContextFilter: never secret, never a token


class ContextFilter(logging.Filter):
    """Stamp every record with the service name and the current request id."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = request_id.get()
        return True


class RedactFilter(logging.Filter):
    """Mask secrets and personal data before any handler formats the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and TOKEN_RE.search(record.msg):
            record.msg = TOKEN_RE.sub("[redacted]", record.msg)
        if record.args:
            record.args = tuple(_scrub(a) for a in record.args) if isinstance(record.args, tuple) else record.args
        attrs = record.__dict__
        for name in attrs.keys() - _STANDARD - _CONTEXT:  # the extra fields only
            value = attrs[name]
            if name.lower() in SECRET_KEYS:
                attrs[name] = "[redacted]"
            else:
                scrubbed = _scrub(value)
                if scrubbed is not value:
                    attrs[name] = scrubbed
        return True


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return TOKEN_RE.sub("[redacted]", value) if TOKEN_RE.search(value) else value
    if isinstance(value, dict):
        return {k: "[redacted]" if str(k).lower() in SECRET_KEYS else _scrub(v) for k, v in value.items()}
    return value


def _default(value: Any) -> Any:
    """What orjson cannot write: bytes as base64 (as python-json-logger did), anything else as str()."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return str(value)


class JsonLineFormatter(logging.Formatter):
    """One compact JSON object per record: timestamp, level, logger, message, service, request_id,
    then the record's ``extra`` fields in the order given, then ``exc_info``/``stack_info`` if any."""

    def __init__(self, datefmt: str = "%Y-%m-%dT%H:%M:%S%z") -> None:
        super().__init__(datefmt=datefmt)
        self._second = -1
        self._stamp = ""

    def _timestamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # one strftime per second, not per line
            self._stamp, self._second = time.strftime(self.datefmt or "", self.converter(created)), second
        return self._stamp

    def format(self, record: logging.LogRecord) -> str:
        attrs = record.__dict__
        doc: dict[str, Any] = {
            "timestamp": self._timestamp(record.created), "level": record.levelname, "logger": record.name,
            "message": record.getMessage(), "service": attrs.get("service"), "request_id": attrs.get("request_id"),
        }
        for name, value in attrs.items():
            if name not in _STANDARD and name not in _CONTEXT:
                doc[name] = value
        if record.exc_info:
            doc["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exc_info"] = record.exc_text
        if record.stack_info:
            doc["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(doc, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()


def access_log(logger: logging.Logger, method: str, path: str, status: int, duration_ms: float) -> None:
    """The per-request access line (``message`` "request" with method, path, status, duration_ms).

    When fms's JSON handler is the only place the line can go (no other handler
    or filter on the way, the usual case outside tests), the line is written
    straight to it: the same fields, the same redaction of the path, the same
    stream and lock, without building a LogRecord and running it through the
    generic filters — that was most of the line's cost. Otherwise it is an
    ordinary record through the logger (minus ``findCaller``'s stack walk).
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = _sole_fms_handler(logger)
    if handler is None:
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, "request", (), None, extra={
            "method": method, "path": path, "status": status, "duration_ms": duration_ms})
        logger.handle(record)
        return
    formatter: JsonLineFormatter = handler.formatter  # type: ignore[assignment]
    line = orjson.dumps({
        "timestamp": formatter._timestamp(time.time()), "level": "INFO", "logger": logger.name, "message": "request",
        "service": handler._fms_service, "request_id": request_id.get(),  # type: ignore[attr-defined]
        "method": _scrub(method), "path": _scrub(path), "status": status, "duration_ms": duration_ms,
    }).decode()
    handler.acquire()
    try:
        handler.stream.write(line + handler.terminator)
        handler.flush()
    finally:
        handler.release()


def _sole_fms_handler(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """fms's handler when it is the only handler and nothing filters between ``logger`` and it."""
    node: logging.Logger | None = logger
    found = None
    while node is not None:
        if node.filters:
            return None
        for handler in node.handlers:
            if found is not None or not getattr(handler, "_fms", False):
                return None
            found = handler
        if not node.propagate:
            break
        node = node.parent
    if found is None or found.level > logging.INFO or not isinstance(found.formatter, JsonLineFormatter):
        return None
    return found  # type: ignore[return-value]


def parse_levels(spec: str) -> dict[str, str]:
    """``"app.store=DEBUG,werkzeug=WARNING"`` → ``{"app.store": "DEBUG", ...}``."""
    levels = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, level = part.partition("=")
        levels[name.strip()] = level.strip().upper()
    return levels


def configure(service: str, level: str = "INFO", levels: str = "", stream: Any = None) -> None:
    """Install the JSON handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(ContextFilter(service))
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_fms", False)]:
        root.removeHandler(old)
    handler._fms = True  # type: ignore[attr-defined]
    handler._fms_service = service  # type: ignore[attr-defined]  # what ContextFilter stamps, for access_log
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name, lvl in parse_levels(levels).items():
        logging.getLogger(name).setLevel(lvl)
