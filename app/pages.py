"""Public pages (the analytics dashboard, the API docs): our files and vendored libraries, one strict CSP.

Such a page holds no data and is served to anyone, so it is locked down the
same way wherever it lives: scripts, styles and requests to this origin only,
images from it or ``data:``, no inline code, no framing, no form posts.
"""

from __future__ import annotations

from pathlib import Path

from flask import Response, send_from_directory

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


def hardened(resp: Response) -> Response:
    resp.headers.update(SECURITY_HEADERS)
    return resp


def static_file(folder: Path, filename: str) -> Response:
    """``filename`` from ``folder`` (a path outside it is 404), with the page headers.

    ``max_age=0`` + ETag: a deploy's new page or script is picked up at the next load.
    """
    return hardened(send_from_directory(folder, filename, max_age=0))
