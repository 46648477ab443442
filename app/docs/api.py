"""``/openapi.json`` (collected from the registered blueprints) and ``/docs`` (Swagger UI, vendored).

The page is public, holds no data and loads nothing from a CDN (hosts may be
offline, and a CDN would see every visitor): Swagger UI's bundle and styles
are served from ``static/vendor/swagger-ui`` (see ``static/README.md`` for the
version, licence and hashes), our ``docs.js`` starts it on ``/openapi.json``.
A strict Content-Security-Policy holds for it as for the dashboard: scripts,
styles and connections to this origin only, no inline code, no framing.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, send_from_directory

from app.http import json_response, public
from app.openapi import Operation, document

bp = Blueprint("docs", __name__)
STATIC = Path(__file__).resolve().parent / "static"
CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _hardened(resp: Response) -> Response:
    resp.headers.update(SECURITY_HEADERS)
    return resp


@bp.get("/openapi.json")
@public
def openapi() -> Response:
    return json_response(document(current_app), cacheable=True)


@bp.get("/docs")
@public
def docs() -> Response:
    """The page; ``no-cache`` + ETag so that a deploy's new page is picked up at once."""
    return _hardened(send_from_directory(STATIC, "docs.html", max_age=0))


@bp.get("/docs/static/<path:filename>")
@public
def docs_static(filename: str) -> Response:
    """``docs.js`` and the vendored Swagger UI (a path outside ``static/`` is 404)."""
    return _hardened(send_from_directory(STATIC, filename, max_age=0))


OPERATIONS = (
    Operation("get", "/openapi.json", "docs", "This document (OpenAPI 3.1)", public=True),
    Operation("get", "/docs", "docs", "Interactive API documentation (Swagger UI, served from this host)",
              public=True),
    Operation("get", "/docs/static/{filename}", "docs", "The documentation page's script and vendored Swagger UI",
              public=True),
)
