"""``GET /dashboard``: the analytics page and its static files.

A blueprint of its own (not part of the analytics JSON API) so that the page
and the data stay separate: the page is public HTML + JS and holds no data;
everything it shows comes from the authenticated analytics endpoints with the
token the visitor gets by logging in on the page. Being public, it is served
with the strict Content-Security-Policy of every public page (:mod:`app.pages`):
scripts and styles from this origin only, no inline code, no framing, no form posts.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

from app.http import public
from app.openapi import Operation
from app.pages import static_file

bp = Blueprint("dashboard", __name__)
STATIC = Path(__file__).resolve().parent / "static"


@bp.get("/dashboard")
@public
def dashboard() -> Response:
    """The page; ``no-cache`` + ETag so a deploy's new page is picked up at once."""
    return static_file(STATIC, "dashboard.html")


@bp.get("/dashboard/static/<path:filename>")
@public
def dashboard_static(filename: str) -> Response:
    """Our JS/CSS and the vendored chart library (a path outside ``static/`` is 404)."""
    return static_file(STATIC, filename)


OPERATIONS = (
    Operation("get", "/dashboard", "analytics", "Analytics dashboard (public HTML; its data comes from the JSON API)",
              public=True),
    Operation("get", "/dashboard/static/{filename}", "analytics",
              "The dashboard's scripts, styles and vendored chart library", public=True),
)
