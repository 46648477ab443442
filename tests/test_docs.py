"""``/docs``: Swagger UI served from this host under a strict CSP, rendering every documented operation."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app.docs.api import STATIC
from app.pages import CSP
from tests.chromium import Chromium, chromium_binary

VENDOR = STATIC / "vendor" / "swagger-ui"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.styles: list[str] = []
        self.icons: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self.scripts.append(named.get("src"))
        if tag == "link" and named.get("rel") == "stylesheet":
            self.styles.append(named["href"] or "")
        if tag == "link" and named.get("rel") == "icon":  # else the browser asks for /favicon.ico: a 404
            self.icons.append(named["href"] or "")
        self.inline += [k for k in named if k == "style" or k.startswith("on")]


def _page(client: Any) -> _Tags:
    resp = client.get("/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert resp.headers["Content-Security-Policy"] == CSP and "'unsafe-inline'" not in CSP
    assert resp.headers["X-Frame-Options"] == "DENY"
    tags = _Tags()
    tags.feed(resp.get_data(as_text=True))
    return tags


def test_docs_page_is_swagger_ui_with_no_inline_code(client: Any) -> None:
    tags = _page(client)
    assert None not in tags.scripts, "an inline <script>: the CSP would block it"
    assert tags.inline == []
    assert tags.scripts == ["/docs/static/vendor/swagger-ui/swagger-ui-bundle.js", "/docs/static/docs.js"]
    assert "/docs/static/vendor/swagger-ui/swagger-ui.css" in tags.styles
    assert tags.icons == ["data:,"]


def test_docs_assets_are_served_from_this_host(client: Any) -> None:
    tags = _page(client)
    for url in [*tags.scripts, *tags.styles]:
        assert url is not None and url.startswith("/docs/static/")
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert resp.headers["Content-Security-Policy"] == CSP
        assert resp.mimetype == ("text/css" if url.endswith(".css") else "text/javascript"), url
        assert len(resp.data) > 100
    init = client.get("/docs/static/docs.js").get_data(as_text=True)
    assert 'url: "/openapi.json"' in init and "validatorUrl: null" in init
    assert client.get("/docs/static/../api.py").status_code == 404
    assert client.get("/docs/static/nothing.js").status_code == 404


def test_vendored_swagger_ui_matches_its_readme() -> None:
    """Byte-identical to the npm release the README names (version, sha256), with its licence beside it."""
    readme = (STATIC / "README.md").read_text()
    version = re.search(r"\| version \| ([0-9.]+) \|", readme)
    assert version is not None
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert f"`{name}` | `{digest}`" in readme, f"{name}: sha256 {digest} is not in static/README.md"
    assert "Apache License" in (VENDOR / "LICENSE").read_text()
    assert (VENDOR / "NOTICE").is_file()
    assert f'PACKAGE_VERSION:"{version.group(1)}"' in (VENDOR / "swagger-ui-bundle.js").read_text()


@pytest.fixture
def live(app: Flask) -> Iterator[str]:
    """The app on a real socket (werkzeug's threaded server): the browser loads the page, assets and document."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_swagger_ui_renders_every_operation_in_headless_chromium(live: str, client: Any, tmp_path: Path) -> None:
    binary = chromium_binary()
    if binary is None:  # scripts/test installs it (scripts/apt-packages.txt): fail, so CI cannot pass without it
        pytest.fail("chromium is not installed (apt-get install chromium; scripts/apt-packages.txt lists it)")
    doc = client.get("/openapi.json").json
    count = sum(len(ops) for ops in doc["paths"].values())
    with Chromium(tmp_path / "chromium-profile", binary=binary) as browser:
        page = browser.page()
        page.navigate(f"{live}/docs")
        shown = page.wait_for(f"document.querySelectorAll('.opblock').length >= {count} && "
                              "document.querySelectorAll('.opblock').length", timeout=60,
                              what=f"{count} operations rendered")
        assert shown == count
        assert page.evaluate("document.querySelector('.info .title').textContent").startswith("fms")
        # "Try it out" on /health goes to this origin (connect-src 'self') and shows the live answer.
        page.evaluate("document.querySelector('#operations-health-get_health .opblock-summary-control').click()")
        page.wait_for("!!document.querySelector('#operations-health-get_health .try-out__btn')", what="try it out")
        page.evaluate("document.querySelector('#operations-health-get_health .try-out__btn').click()")
        page.wait_for("!!document.querySelector('#operations-health-get_health .execute')", what="execute button")
        page.evaluate("document.querySelector('#operations-health-get_health .execute').click()")
        status = page.wait_for("(document.querySelector('#operations-health-get_health .live-responses-table "
                               "tbody .response-col_status') || {}).textContent", what="the live response")
        assert status.strip().startswith("200")
        page.screenshot(tmp_path / "docs.png")
        assert page.errors() == [], "console errors or CSP violations"
        outside = [u for u in page.requested_urls() if not u.startswith((live, "data:", "about:"))]
        assert outside == [], "the docs page reached outside this host"
