"""``GET /dashboard``: the analytics page and its static files.

A blueprint of its own (not part of the analytics JSON API) so that the page
and the data stay separate: the page is public HTML + JS and holds no data;
everything it shows comes from the authenticated analytics endpoints with the
token the visitor gets by logging in on the page. Being public, it is served
with a strict Content-Security-Policy: scripts and styles from this origin
only, no inline code, no framing, no form posts anywhere.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

from app.http import public
from app.openapi import Operation

bp = Blueprint("dashboard", __name__)
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


@bp.get("/dashboard")
@public
def dashboard() -> Response:
    """The page; ``no-cache`` + ETag so a deploy's new page is picked up at once."""
    return _hardened(send_from_directory(STATIC, "dashboard.html", max_age=0))


@bp.get("/dashboard/static/<path:filename>")
@public
def dashboard_static(filename: str) -> Response:
    """Our JS/CSS and the vendored chart library (a path outside ``static/`` is 404)."""
    return _hardened(send_from_directory(STATIC, filename, max_age=0))


OPERATIONS = (
    Operation("get", "/dashboard", "analytics", "Analytics dashboard (public HTML; its data comes from the JSON API)",
              public=True),
    Operation("get", "/dashboard/static/{filename}", "analytics",
              "The dashboard's scripts, styles and vendored chart library", public=True),
)
