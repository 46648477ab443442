"""``/openapi.json`` (collected from the registered blueprints) and ``/docs`` (Swagger UI, vendored).

The page is public, holds no data and loads nothing from a CDN (hosts may be
offline, and a CDN would see every visitor): Swagger UI's bundle and styles
are served from ``static/vendor/swagger-ui`` (see ``static/README.md`` for the
version, licence and hashes), our ``docs.js`` starts it on ``/openapi.json``.
The strict Content-Security-Policy of every public page holds for it
(:mod:`app.pages`): no inline code, nothing from another origin.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app

from app.http import json_response, public
from app.openapi import Operation, document
from app.pages import static_file

bp = Blueprint("docs", __name__)
STATIC = Path(__file__).resolve().parent / "static"


@bp.get("/openapi.json")
@public
def openapi() -> Response:
    return json_response(document(current_app), cacheable=True)


@bp.get("/docs")
@public
def docs() -> Response:
    """The page; ``no-cache`` + ETag so that a deploy's new page is picked up at once."""
    return static_file(STATIC, "docs.html")


@bp.get("/docs/static/<path:filename>")
@public
def docs_static(filename: str) -> Response:
    """``docs.js`` and the vendored Swagger UI (a path outside ``static/`` is 404)."""
    return static_file(STATIC, filename)


OPERATIONS = (
    Operation("get", "/openapi.json", "docs", "This document (OpenAPI 3.1)", public=True),
    Operation("get", "/docs", "docs", "Interactive API documentation (Swagger UI, served from this host)",
              public=True),
    Operation("get", "/docs/static/{filename}", "docs", "The documentation page's script and vendored Swagger UI",
              public=True),
)
