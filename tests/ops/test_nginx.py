"""The shipped nginx site answers its own errors in the API's JSON error shape (a real nginx, real TLS).

nginx refuses some requests itself before gunicorn sees them (a body over
``client_max_body_size``, a request line or header over its buffers, a
malformed request) and answers 502/504 when gunicorn is down. The template
renders with Ansible's Jinja settings (``trim_blocks``) and runs on free ports
with its upstream on a port nothing listens on.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from tests.helpers import free_port, wait_for
from tests.ops.conftest import ROOT, run, tool

ROLE = ROOT / "ansible" / "roles" / "fms_nginx"


def _render(tmp: Path, https_port: int, http_port: int, upstream_port: int) -> Path:
    """The site file, rendered from the role defaults like the template module does."""
    values: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    values.update(ansible_managed="rendered by tests/ops/test_nginx.py", fms_nginx_server_name="localhost",
                  fms_nginx_https_port=https_port, fms_nginx_http_port=http_port,
                  fms_nginx_upstream=f"127.0.0.1:{upstream_port}",
                  fms_nginx_tls_cert=str(tmp / "fms.crt"), fms_nginx_tls_key=str(tmp / "fms.key"))
    env = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    site = tmp / "fms.conf"
    site.write_text(env.from_string((ROLE / "templates" / "fms.conf.j2").read_text()).render(**values))
    return site


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("nginx")
    tmp.chmod(0o755)
    https_port, http_port, upstream_port = free_port(), free_port(), free_port()
    made = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "2", "-subj", "/CN=localhost", "-keyout", str(tmp / "fms.key"), "-out", str(tmp / "fms.crt")])
    assert made.returncode == 0, made.stderr
    site = _render(tmp, https_port, http_port, upstream_port)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = " ".join(f"{kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp / "nginx.conf").write_text(
        f"{user}worker_processes 1;\nerror_log {tmp / 'error.log'} warn;\npid {tmp / 'nginx.pid'};\n"
        f"events {{ worker_connections 64; }}\n"
        f"http {{ access_log off; {temps}\n include {site};\n}}\n")
    checked = run([tool("nginx"), "-t", "-p", str(tmp), "-c", str(tmp / "nginx.conf")])
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen([tool("nginx"), "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: proc.poll() is not None or _connects(https_port), 15, what="nginx to listen")
        assert proc.poll() is None, (tmp / "error.log").read_text()
        yield https_port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGQUIT)  # graceful shutdown
        proc.wait(15)


def _connects(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _tls(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP/1.1 exchange over TLS; the server closes (Connection: close or an error)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ssl.SSLError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _error(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers["content-type"] == "application/json", headers
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "details", "request_id"} and error["details"] == []
    assert error["request_id"] == headers["x-request-id"]
    assert "max-age" in headers["strict-transport-security"]
    return error  # type: ignore[no-any-return]


def test_nginx_errors_have_the_json_shape(nginx: int) -> None:
    cases = [
        (b"GET /api/v1/forms HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 502, "unavailable"),
        (b"POST /api/v1/forms HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
         b"Content-Length: 3000000\r\nConnection: close\r\n\r\n", 413, "payload_too_large"),
        (b"GET /?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414, "uri_too_long"),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431,
         "request_header_fields_too_large"),
        (b"GARBAGE\r\n\r\n", 400, "bad_request"),
    ]
    for request, status, code in cases:
        got, headers, body = _tls(nginx, request)
        assert got == status, (request[:40], got, body[:200])
        assert _error(headers, body)["code"] == code


def test_nginx_keeps_a_valid_request_id_and_replaces_a_hostile_one(nginx: int) -> None:
    _, headers, body = _tls(nginx, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Request-ID: abc-123\r\n"
                                   b"Connection: close\r\n\r\n")
    assert _error(headers, body)["request_id"] == "abc-123"
    _, headers, body = _tls(nginx, b'GET / HTTP/1.1\r\nHost: localhost\r\nX-Request-ID: x"}, "evil": "1\r\n'
                                   b"Connection: close\r\n\r\n")
    error = _error(headers, body)  # still valid JSON: the client's value never reaches the body
    assert error["request_id"] != 'x"}, "evil": "1' and "evil" not in json.loads(body)
