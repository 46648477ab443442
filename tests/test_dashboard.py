"""The analytics dashboard: a public page whose numbers are the JSON API's.

The HTTP tests check what the page is served with (CSP, no inline code, the
vendored chart library as recorded). The browser test starts a real gunicorn
and a real headless Chromium, logs in through the page, picks a seeded form
and compares every number on the page with the analytics API's answer.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parents[1] / "app" / "analytics" / "static"


def test_dashboard_page_is_public_and_locked_down(client: Any) -> None:
    resp = client.get("/dashboard")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert b"/dashboard/static/vendor/chartjs/chart.umd.min.js" in resp.data


def test_static_files_are_served_and_nothing_outside_them(client: Any) -> None:
    js = client.get("/dashboard/static/dashboard.js")
    assert js.status_code == 200 and js.mimetype in {"text/javascript", "application/javascript"}
    assert js.headers["Content-Security-Policy"].startswith("default-src 'none'")
    lib = client.get("/dashboard/static/vendor/chartjs/chart.umd.min.js")
    assert lib.status_code == 200 and lib.data.startswith(b"/*!\n * Chart.js v")
    again = client.get("/dashboard/static/dashboard.js", headers={"If-None-Match": js.headers["ETag"]})
    assert again.status_code == 304
    for path in ("/dashboard/static/../dashboard.py", "/dashboard/static/%2e%2e/dashboard.py",
                 "/dashboard/static/nothing.js"):
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert resp.json["error"]["code"] == "not_found"


def test_page_has_no_inline_code_and_never_writes_html() -> None:
    """Form titles and answers are user data: the page only ever inserts them as text."""
    html = (STATIC / "dashboard.html").read_text()
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE), "inline event handler in dashboard.html"
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html)), "inline <script> in dashboard.html"
    assert "style=" not in html
    js = (STATIC / "dashboard.js").read_text()
    sinks = re.findall(r"\.(?:inner|outer)HTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function", js)
    assert not sinks, f"dashboard.js writes HTML: {sinks}"


def test_vendored_chart_library_matches_its_readme() -> None:
    readme = (STATIC / "README.md").read_text()
    lib = STATIC / "vendor" / "chartjs" / "chart.umd.min.js"
    version = re.search(r"\| version \| (\S+) \|", readme)
    digest = re.search(r"\| sha256 of the file \| `([0-9a-f]{64})` \|", readme)
    assert version and digest
    assert lib.read_bytes().startswith(f"/*!\n * Chart.js v{version.group(1)}\n".encode())
    assert hashlib.sha256(lib.read_bytes()).hexdigest() == digest.group(1)
    assert "MIT License" in (STATIC / "vendor" / "chartjs" / "LICENSE.md").read_text()

