"""Errors gunicorn answers before Flask (414, 431, 400) come back in the JSON error shape, over a real socket."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from app.gunicorn_errors import error_response
from tests.helpers import RedisServer, free_port, gunicorn_server


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[tuple[str, int]]:
    """The shipped gunicorn config with one worker, on a free port."""
    port = free_port()
    data = tmp_path_factory.mktemp("gunicorn-errors")
    env = {**os.environ, "FMS_DATA_DIR": str(data), "REDIS_URL": redis_server.url,
           "FMS_WEB_WORKERS": "1", "FMS_SECRET_KEY": "k"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with gunicorn_server(env, port, ready="/health"):
        yield "127.0.0.1", port


def _raw(address: tuple[str, int], request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes no HTTP client library would, read until the server closes, split the response."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _assert_error_shape(headers: dict[str, str], body: bytes, code: str) -> dict[str, Any]:
    assert headers["content-type"] == "application/json", headers
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code and error["message"] and error["details"] == []
    assert error["request_id"] == headers["x-request-id"]
    return error  # type: ignore[no-any-return]


@pytest.mark.slow
def test_over_long_request_line_is_a_json_414(gunicorn: tuple[str, int]) -> None:
    status, headers, body = _raw(gunicorn, b"GET /health?x=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status == 414
    assert "too large" in _assert_error_shape(headers, body, "uri_too_long")["message"]


@pytest.mark.slow
def test_oversized_header_and_too_many_headers_are_a_json_431(gunicorn: tuple[str, int]) -> None:
    big = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
    many = b"GET /health HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"
    for request in (big, many):
        status, headers, body = _raw(gunicorn, request)
        assert status == 431
        _assert_error_shape(headers, body, "request_header_fields_too_large")


@pytest.mark.slow
def test_malformed_request_lines_are_a_json_400(gunicorn: tuple[str, int]) -> None:
    for request in (b"GARBAGE\r\n\r\n", b"GET /health HTTP/9.9\r\nHost: t\r\n\r\n", b"G\x00T / HTTP/1.1\r\n\r\n"):
        status, headers, body = _raw(gunicorn, request)
        assert status == 400, request
        _assert_error_shape(headers, body, "bad_request")
    # and the worker still serves Flask's own responses afterwards
    assert requests.get(f"http://{gunicorn[0]}:{gunicorn[1]}/health", timeout=5).status_code == 200


def test_error_response_is_valid_http_with_the_shape() -> None:
    raw = error_response(500, "Internal Server Error", "")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert json.loads(body)["error"]["code"] == "internal_error"
    assert json.loads(body)["error"]["message"] == "internal server error"
