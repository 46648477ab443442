"""JSON logs: one line per event with timestamp, level, service and request id.

Secrets never reach a handler: :class:`RedactFilter` masks credential-looking
strings in messages and any ``extra`` field whose name marks it as secret or
personal (password, token, authorization, answers…).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from app.observability.context import request_id

SECRET_KEYS = frozenset({
    "password", "passwd", "secret", "token", "authorization", "api_key", "key", "cookie",
    "answers", "text", "set-cookie",
})
TOKEN_RE = re.compile(r"(fms_[A-Za-z0-9_\-]{16,}|fmt_[A-Za-z0-9_\-]{16,}|fml_[A-Za-z0-9_\-]{16,}|Bearer\s+\S+)")
_STANDARD = set(vars(logging.makeLogRecord({})))


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
        if isinstance(record.msg, str):
            record.msg = TOKEN_RE.sub("[redacted]", record.msg)
        if record.args:
            record.args = tuple(_scrub(a) for a in record.args) if isinstance(record.args, tuple) else record.args
        for name, value in list(vars(record).items()):
            if name in _STANDARD:
                continue
            if name.lower() in SECRET_KEYS:
                setattr(record, name, "[redacted]")
            else:
                setattr(record, name, _scrub(value))
        return True


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return TOKEN_RE.sub("[redacted]", value)
    if isinstance(value, dict):
        return {k: "[redacted]" if str(k).lower() in SECRET_KEYS else _scrub(v) for k, v in value.items()}
    return value


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
    handler.setFormatter(JsonFormatter(
        "{asctime}{levelname}{name}{message}{service}{request_id}",
        style="{",
        rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    ))
    handler.addFilter(ContextFilter(service))
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_fms", False)]:
        root.removeHandler(old)
    handler._fms = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name, lvl in parse_levels(levels).items():
        logging.getLogger(name).setLevel(lvl)
