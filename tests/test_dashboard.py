"""The analytics dashboard: a public page whose numbers are the JSON API's.

The HTTP tests check what the page is served with (CSP, no inline code, the
vendored chart library as recorded). The browser test starts a real gunicorn
and a real headless Chromium, logs in through the page, picks a seeded form
and compares every number on the page with the analytics API's answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.chromium import Chromium, chromium_binary
from tests.helpers import VENV_BIN, free_port, gunicorn_server

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "app" / "analytics" / "static"


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



# --- in a real browser against a real server -----------------------------------------------------------

PASSWORD = "dashboard-pass-123"
TITLE = 'Survey <img src=x id=pwned> & "friends"'  # user data that must stay text
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["topic"],
    "properties": {
        "topic": {"enum": ["billing", "bug", "other"], "title": "Topic"},
        "happy": {"type": "boolean"},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}},
        "nps": {"type": "integer", "minimum": 0, "maximum": 10},
        "amount": {"type": "number"},
        "comment": {"type": "string"},
    },
}
# (answers, draft?, final status or None): 9 submissions, 2 of them drafts (one completed later).
SEED: list[tuple[dict[str, Any], bool, str | None]] = [
    ({"topic": "billing", "happy": True, "tags": ["a"], "nps": 10, "amount": 12.5, "comment": "<b>fast</b>"}, False,
     "approved"),
    ({"topic": "billing", "happy": False, "tags": ["a", "b"], "nps": 3, "amount": 40}, False, "rejected"),
    ({"topic": "bug", "happy": True, "tags": [], "nps": 9, "comment": "crash on login"}, False, None),
    ({"topic": "bug", "nps": 7, "amount": 5}, False, "in_review"),
    ({"topic": "billing", "happy": True, "tags": ["c"], "nps": 8}, False, None),
    ({"topic": "other", "tags": ["b", "c"], "nps": 6, "amount": 99.9}, False, "approved"),
    ({"topic": "bug", "happy": False}, False, None),
    ({"topic": "other"}, True, None),
    ({"topic": "billing", "nps": 10}, True, "submitted"),  # a draft completed by review
]
TZ = "America/New_York"


def _final_status(draft: bool, final: str | None) -> str:
    return final or ("draft" if draft else "submitted")


def _server_env(tmp_path: Path, redis_server: Any, **extra: str) -> dict[str, str]:
    redis_server.client(0).flushall()
    env = {**os.environ, "FMS_DATA_DIR": str(tmp_path / "data"),
           "REDIS_URL": redis_server.url, "FMS_WEB_WORKERS": "2", "FMS_SECRET_KEY": "dashboard-test",
           "FMS_BOOTSTRAP_ADMIN": f"admin:{PASSWORD}", "FMS_SQLITE_SYNCHRONOUS": "NORMAL", **extra}
    for name in ("MONGODB_URI", "PROMETHEUS_MULTIPROC_DIR", "FMS_CACHE_REDIS_URL"):
        env.pop(name, None)
    return env


@pytest.fixture
def live_server(tmp_path: Path, redis_server: Any) -> Iterator[str]:
    """gunicorn on a free port with its own data dir and the session's redis-server; no worker, so summaries
    are computed in the API (the queued path has its own test below)."""
    env = _server_env(tmp_path, redis_server, FMS_ANALYTICS_INLINE_MAX_ROWS="100000")
    with gunicorn_server(env, free_port(), log_path=tmp_path / "gunicorn.log") as base:
        yield base


@pytest.fixture
def queued_server(tmp_path: Path, redis_server: Any) -> Iterator[str]:
    """The same, with every uncached summary queued and answered 202 at once (no wait for the worker's result)
    and worker-default's command serving ``analytics``."""
    env = _server_env(tmp_path, redis_server, FMS_ANALYTICS_INLINE_MAX_ROWS="0", FMS_ANALYTICS_QUEUE_WAIT="0")
    with gunicorn_server(env, free_port(), log_path=tmp_path / "gunicorn.log") as base, \
            (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen([str(VENV_BIN / "dramatiq"), "tasks.worker", "--processes", "1", "--threads", "2",
                                   "--queues", "analytics"], cwd=ROOT, env={**env, "FMS_PROCESS": "worker-default"},
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield base
        finally:
            with suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(60)


def _seed(base: str) -> tuple[str, dict[str, Any]]:
    """A form and its submissions through the API, as a client app would create them."""
    token = requests.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": PASSWORD},
                          timeout=10).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    form = requests.post(f"{base}/api/v1/forms", json={"title": TITLE, "schema": SCHEMA, "sensitive": ["comment"]},
                         headers=auth, timeout=10)
    assert form.status_code == 201, form.text
    form_id = form.json()["id"]
    viewer = requests.post(f"{base}/api/v1/users", json={"username": "viewer1", "password": PASSWORD,
                                                          "role": "viewer"}, headers=auth, timeout=10)
    assert viewer.status_code == 201, viewer.text
    share = requests.put(f"{base}/api/v1/forms/{form_id}/shares/{viewer.json()['id']}", json={"role": "viewer"},
                         headers=auth, timeout=10)
    assert share.status_code in {200, 201}, share.text
    for answers, draft, final in SEED:
        sub = requests.post(f"{base}/api/v1/forms/{form_id}/submissions", json={"answers": answers, "draft": draft},
                            headers=auth, timeout=10)
        assert sub.status_code == 201, sub.text
        if final:
            patched = requests.patch(f"{base}/api/v1/submissions/{sub.json()['id']}", json={"status": final},
                                     headers=auth, timeout=10)
            assert patched.status_code == 200, patched.text
    return token, form.json()


def _api(url: str, token: str) -> dict[str, Any]:
    resp = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


READ_PAGE = """(() => {
  const n = (t) => Number(String(t).replace(/,/g, ""));
  const rows = (sel) => [...document.querySelectorAll(sel)];
  const counts = (sel, key) => Object.fromEntries(
    rows(sel).map((r) => [r.dataset[key], n(r.querySelector(".count").textContent)]));
  return {
    total: n(document.getElementById("total").textContent),
    draftsOpen: n(document.getElementById("drafts-open").textContent),
    draftsCompleted: n(document.getElementById("drafts-completed").textContent),
    status: counts("#status-table tbody tr", "status"),
    points: rows("#timeseries-table tbody tr").map((r) => [r.dataset.start, n(r.querySelector(".count").textContent)]),
    topic: counts('[data-field="topic"] table.options tbody tr', "value"),
    tags: counts('[data-field="tags"] table.options tbody tr', "value"),
    npsScore: n(document.querySelector('[data-field="nps"] [data-stat="score"]').textContent),
    fields: rows("#fields [data-field]").map((s) => s.dataset.field),
    charts: document.querySelectorAll("canvas").length,
    formOption: [...document.querySelectorAll("#form-select option")].map((o) => o.textContent),
    injected: document.getElementById("pwned") !== null || document.querySelector("#fields b") !== null,
  };
})()"""


def _analytics_urls(page: Any, base: str) -> tuple[str, str]:
    """The last summary and timeseries URLs the page fetched (the API answers them the same for us)."""
    urls = [u for u in page.requested_urls() if "/analytics" in u]
    summary = [u for u in urls if "/analytics?" in u or u.endswith("/analytics")]
    series = [u for u in urls if "/analytics/timeseries" in u]
    assert summary and series, urls
    return summary[-1], series[-1]


def _assert_page_equals_api(shown: dict[str, Any], summary: dict[str, Any], series: dict[str, Any]) -> None:
    assert shown["total"] == summary["total"]
    assert shown["status"] == summary["status"]
    assert shown["draftsOpen"] == summary["drafts"]["open"]
    assert shown["draftsCompleted"] == summary["drafts"]["completed"]
    assert shown["topic"] == {o["value"]: o["count"] for o in summary["fields"]["topic"]["options"]}
    assert shown["tags"] == {o["value"]: o["count"] for o in summary["fields"]["tags"]["options"]}
    assert shown["npsScore"] == summary["fields"]["nps"]["score"]
    assert shown["points"] == [[p["start"], p["count"]] for p in series["points"]]
    assert shown["fields"] == list(summary["fields"])


def _login(page: Any, username: str) -> None:
    page.evaluate(f"""document.getElementById('login-username').value = {json.dumps(username)};
                      document.getElementById('login-password').value = {json.dumps(PASSWORD)};
                      document.querySelector('#login-form button[type=submit]').click()""")
    page.wait_for("document.body.dataset.state === 'idle'", what=f"the form list after {username} logged in")


def _pick(page: Any, form_id: str) -> None:
    page.evaluate(f"""{{ const s = document.getElementById('form-select'); s.value = {json.dumps(form_id)};
                      s.dispatchEvent(new Event('change')); }}""")
    page.wait_for("document.body.dataset.state === 'ready'", what="the analytics to render")


def _apply(page: Any) -> None:
    page.evaluate("document.body.dataset.state = 'stale'; "
                  "document.querySelector('#filters button[type=submit]').click()")


@pytest.mark.slow
def test_dashboard_in_headless_chromium_shows_the_apis_numbers(live_server: str, tmp_path: Path) -> None:
    binary = chromium_binary()
    if binary is None:
        # scripts/test installs it (scripts/apt-packages.txt): fail, so CI cannot pass without the check
        pytest.fail("chromium is not installed (apt-get install chromium; scripts/apt-packages.txt lists it)")
    token, form = _seed(live_server)
    live = [(a, _final_status(d, f)) for a, d, f in SEED]
    with Chromium(tmp_path / "chromium-profile", binary=binary) as browser:
        page = browser.page(timezone=TZ)
        page.navigate(f"{live_server}/dashboard")
        page.wait_for("document.body.dataset.state === 'login'", what="the login form")
        _login(page, "admin")
        assert page.evaluate("sessionStorage.getItem('fms.dashboard.token')").startswith("fmt_")
        _pick(page, form["id"])
        shown = page.evaluate(READ_PAGE)
        summary_url, series_url = _analytics_urls(page, live_server)
        summary, series = _api(summary_url, token), _api(series_url, token)
        page.screenshot(tmp_path / "dashboard.png")

        assert f"{TITLE} (v1)" in shown["formOption"] and not shown["injected"]
        assert f"tz={TZ.replace('/', '%2F')}" in series_url and "interval=day" in series_url
        _assert_page_equals_api(shown, summary, series)
        # ... and the API's numbers are the seeded ones, counted by hand.
        assert shown["total"] == len(SEED)
        assert shown["status"]["approved"] == 2 and shown["status"]["draft"] == 1
        assert shown["status"]["submitted"] == sum(1 for _, s in live if s == "submitted") == 4
        assert shown["draftsCompleted"] == 1
        assert shown["topic"] == {"billing": 4, "bug": 3, "other": 2}
        assert shown["tags"] == {"a": 2, "b": 2, "c": 2}
        assert sum(c for _, c in shown["points"]) == len(SEED) and shown["charts"] >= 6

        # A reload keeps the session (sessionStorage) and is answered from the cache: same numbers.
        page.navigate(f"{live_server}/dashboard")
        page.wait_for("document.body.dataset.state === 'idle'", what="the form list from the kept session")
        page.evaluate(f"""{{ const s = document.getElementById('form-select'); s.value = {json.dumps(form['id'])};
                          s.dispatchEvent(new Event('change'));
                          document.getElementById('split-by').value = 'topic'; }}""")
        page.wait_for("document.body.dataset.state === 'ready'", what="the cached analytics")
        assert page.evaluate(READ_PAGE) == shown
        assert page.evaluate("document.getElementById('cached').textContent") == "summary cached · series cached"
        _apply(page)  # now split by topic
        page.wait_for("document.body.dataset.state === 'ready'", what="the split summary")
        split = _api(_analytics_urls(page, live_server)[0], token)["split"]
        assert split["field"] == "topic"
        assert page.evaluate("""Object.fromEntries([...document.querySelectorAll('#split-table tbody tr')]
                                .map((r) => [r.dataset.value, Number(r.querySelector('.count').textContent)]))""") \
            == {g["value"]: g["total"] for g in split["groups"]} == {"billing": 4, "bug": 3, "other": 2}
        page.evaluate("document.getElementById('split-by').value = ''")

        # Filters: no drafts or rejected, the local days the seeded rows fell on (whatever today is), per week.
        first_day, last_day = shown["points"][0][0], shown["points"][-1][0]
        page.evaluate(f"""for (const b of document.querySelectorAll('#status-boxes input'))
                            b.checked = !['draft', 'rejected'].includes(b.value);
                          document.getElementById('date-from').value = '{first_day}';
                          document.getElementById('date-to').value = '{last_day}';
                          document.getElementById('interval').value = 'week'""")
        _apply(page)
        page.wait_for("document.body.dataset.state === 'ready'", what="the filtered analytics")
        shown = page.evaluate(READ_PAGE)
        summary_url, series_url = _analytics_urls(page, live_server)
        query = parse_qs(urlsplit(summary_url).query)
        assert query["filter[status]"] == ["submitted,in_review,approved,quarantined"]
        start, end = (datetime.fromisoformat(d).replace(tzinfo=ZoneInfo(TZ)) for d in (first_day, last_day))
        assert query["created_after"] == [(start - timedelta(microseconds=1)).astimezone(UTC)
                                          .strftime("%Y-%m-%dT%H:%M:%S.%fZ")]
        assert query["created_before"] == [(end + timedelta(days=1)).astimezone(UTC)  # local midnight, DST-proof
                                           .strftime("%Y-%m-%dT%H:%M:%S.%fZ")]
        _assert_page_equals_api(shown, _api(summary_url, token), _api(series_url, token))
        assert shown["total"] == sum(1 for _, s in live if s not in {"draft", "rejected"}) == 7
        assert shown["topic"] == {"billing": 3, "bug": 3, "other": 1}
        page.screenshot(tmp_path / "dashboard-filtered.png")

        # An answer filter on top: topic = bug (the list endpoint's filter[answers.topic]).
        page.evaluate("""{ const f = document.getElementById('answer-field'); f.value = 'topic';
                         f.dispatchEvent(new Event('change'));
                         document.getElementById('answer-value').value = 'bug'; }""")
        _apply(page)
        page.wait_for("document.body.dataset.state === 'ready'", what="the analytics of one topic")
        shown = page.evaluate(READ_PAGE)
        summary_url, series_url = _analytics_urls(page, live_server)
        assert parse_qs(urlsplit(summary_url).query)["filter[answers.topic]"] == ["bug"]
        _assert_page_equals_api(shown, _api(summary_url, token), _api(series_url, token))
        assert shown["total"] == 3 and shown["topic"] == {"billing": 0, "bug": 3, "other": 0}

        assert page.errors() == [], page.errors()  # no CSP violation, no uncaught exception

        # Bad input: the API's error, naming the parameter (no dates, so the page itself converts nothing).
        page.evaluate("""document.getElementById('tz').value = 'Mars/Olympus_Mons';
                         document.getElementById('answer-field').value = '';
                         document.getElementById('date-from').value = '';
                         document.getElementById('date-to').value = ''""")
        _apply(page)
        page.wait_for("document.body.dataset.state === 'error'", what="the error for an unknown time zone")
        assert page.evaluate("document.querySelector('#error [data-detail]').dataset.detail") == "tz"
        assert "tz=Mars%2FOlympus_Mons" in _analytics_urls(page, live_server)[1]
        assert all("status of 400" in e for e in page.errors()), page.errors()  # the browser logs the 400

        # Log out, log in as a viewer the form is shared with: the sensitive field shows counts only.
        page.evaluate("document.getElementById('logout').click()")
        page.wait_for("document.body.dataset.state === 'login'", what="the login form after logging out")
        assert page.evaluate("sessionStorage.getItem('fms.dashboard.token')") is None
        _login(page, "viewer1")
        page.evaluate(f"document.getElementById('tz').value = {json.dumps(TZ)}")
        _pick(page, form["id"])
        comment = page.evaluate("""(() => { const c = document.querySelector('[data-field="comment"]');
          return {redacted: c.querySelector('.redacted') !== null, text: c.textContent,
                  count: c.querySelector('[data-stat="count"]').textContent}; })()""")
        assert comment["redacted"] and comment["count"] == "2" and "fast" not in comment["text"]
        viewer_token = page.evaluate("sessionStorage.getItem('fms.dashboard.token')")
        summary_url, series_url = _analytics_urls(page, live_server)
        as_viewer = _api(summary_url, viewer_token)
        # (the status filter is still set: no drafts, no rejected -> 7 submissions, 2 with a comment)
        assert as_viewer["total"] == 7
        assert as_viewer["fields"]["comment"] == {"kind": "string", "count": 2, "missing": 5, "redacted": True}
        _assert_page_equals_api(page.evaluate(READ_PAGE), as_viewer, _api(series_url, viewer_token))


@pytest.mark.slow
def test_dashboard_waits_out_a_202_and_shows_the_queued_summary(queued_server: str, tmp_path: Path) -> None:
    """A big form's first view answers 202 (here every form's: FMS_ANALYTICS_INLINE_MAX_ROWS=0); the page
    asks again after ``Retry-After`` and shows what the worker computed, the API's numbers as before."""
    binary = chromium_binary()
    if binary is None:
        pytest.fail("chromium is not installed (apt-get install chromium; scripts/apt-packages.txt lists it)")
    token, form = _seed(queued_server)
    with Chromium(tmp_path / "chromium-profile", binary=binary) as browser:
        page = browser.page(timezone=TZ)
        page.navigate(f"{queued_server}/dashboard")
        page.wait_for("document.body.dataset.state === 'login'", what="the login form")
        _login(page, "admin")
        page.evaluate(f"""{{ const s = document.getElementById('form-select'); s.value = {json.dumps(form['id'])};
                          s.dispatchEvent(new Event('change')); }}""")
        page.wait_for("document.body.dataset.state === 'ready'", timeout=60, what="the queued analytics")
        summary_url, series_url = _analytics_urls(page, queued_server)
        asked = [u for u in page.requested_urls() if u == summary_url]
        assert len(asked) >= 2, asked  # the 202, then the 200 from the cache
        shown = page.evaluate(READ_PAGE)
        summary, series = _api(summary_url, token), _api(series_url, token)
        assert summary["cached"] is True and series["cached"] is True  # the worker's results
        _assert_page_equals_api(shown, summary, series)
        assert shown["total"] == len(SEED) and shown["topic"] == {"billing": 4, "bug": 3, "other": 2}
