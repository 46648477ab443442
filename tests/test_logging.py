"""JSON logs carry request id and service; secrets and sensitive answers never appear."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from app.observability.logging import configure, parse_levels
from tests.conftest import ADMIN_PASSWORD, Api


def test_logs_are_json_with_request_id_and_no_secrets(api: Api, client: Any, form: dict[str, Any],
                                                      admin_token: str) -> None:
    stream = io.StringIO()
    configure("api", "DEBUG", "", stream=stream)
    try:
        secret_answer = "4111 1111 1111 1111"
        api.post(f"/api/v1/forms/{form['id']}/submissions",
                 {"answers": {"name": "Ada", "email": "ada@example.org", "phone": secret_answer}},
                 headers={"X-Request-ID": "trace-42"})
        client.post("/api/v1/auth/login", json={"username": "root", "password": ADMIN_PASSWORD})
        client.post("/api/v1/auth/login", json={"username": "root", "password": "wrong-password-xyz"})
        api.get("/api/v1/forms/missing")
        logging.getLogger("probe").info("leak %s", admin_token, extra={"password": ADMIN_PASSWORD})
    finally:
        configure("api", "INFO", "")
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    request_line = next(rec for rec in lines if rec.get("request_id") == "trace-42")
    assert request_line["service"] == "api" and request_line["level"] == "INFO"
    assert {"timestamp", "logger", "message"} <= set(request_line)
    for secret in (admin_token, ADMIN_PASSWORD, "wrong-password-xyz", secret_answer):
        assert secret not in text, f"{secret[:6]}… leaked into the logs"
    assert any(rec.get("message") == "leak [redacted]" for rec in lines)


def test_per_module_levels() -> None:
    assert parse_levels("app.store=debug, werkzeug=WARNING") == {"app.store": "DEBUG", "werkzeug": "WARNING"}
    stream = io.StringIO()
    configure("api", "WARNING", "app.noisy=DEBUG", stream=stream)
    try:
        logging.getLogger("app.noisy").debug("shown")
        logging.getLogger("app.quiet").info("hidden")
    finally:
        configure("api", "INFO", "")
        logging.getLogger("app.noisy").setLevel(logging.NOTSET)
    assert "shown" in stream.getvalue() and "hidden" not in stream.getvalue()
