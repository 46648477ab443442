"""Cached form reads answered before Flask give exactly Flask's answer (:mod:`app.forms.fastread`).

Why: the middleware runs the view's checks outside Flask's dispatch. A header it
forgot, a share or a revoke it did not see, or an error it answered its own way
would reach clients only through that path. Each request here goes through the
app as deployed (middleware in front) and straight to Flask (``inner``), with
the same ``X-Request-ID`` so the two answers can be compared byte for byte, and
``served`` shows which path answered.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import sqlite3
from typing import Any

from flask import Flask
from werkzeug.test import EnvironBuilder

from app.factory import create_app
from app.forms.fastread import CachedFormReads
from app.observability.logging import configure
from app.services import Services
from tests.conftest import ADMIN_PASSWORD, SAMPLE_SCHEMA, Api, grant, make_settings, make_user_key, seed_user
from tests.helpers import WsgiAnswer, call_wsgi, wait_for

Answer = WsgiAnswer


def _call(wsgi: Any, path: str, token: str | None, headers: dict[str, str] | None = None,
          method: str = "GET", query: str = "") -> Answer:
    hdrs = {"X-Request-ID": "same-id-both-ways", **(headers or {})}
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    env = EnvironBuilder(path=path, method=method, headers=hdrs, query_string=query).get_environ()
    return call_wsgi(wsgi, env)


def _both(app: Flask, path: str, token: str | None, **kw: Any) -> tuple[Answer, bool]:
    """The deployed answer, whether the fast path gave it, and a check that Flask alone says the same."""
    middleware: CachedFormReads = app.wsgi_app  # type: ignore[assignment]
    before = middleware.served
    deployed = _call(middleware, path, token, **kw)
    fast = middleware.served == before + 1
    flask_only = _call(middleware.inner, path, token, **kw)
    assert deployed == flask_only, (deployed, flask_only)
    return deployed, fast


def test_a_plain_read_is_answered_before_flask_with_flasks_exact_answer(app: Flask, api: Api, form: dict[str, Any],
                                                                        admin_token: str) -> None:
    path = f"/api/v1/forms/{form['id']}"
    (status, headers, body), fast = _both(app, path, admin_token)
    assert fast and status == "200 OK"
    assert json.loads(body)["id"] == form["id"]
    assert [name for name, _ in headers] == ["Content-Type", "Content-Length", "ETag", "Cache-Control", "Vary",
                                             "X-Request-ID"]
    assert dict(headers)["X-Request-ID"] == "same-id-both-ways"


def test_whatever_flask_must_answer_goes_to_flask(app: Flask, api: Api, form: dict[str, Any],
                                                   admin_token: str) -> None:
    path = f"/api/v1/forms/{form['id']}"
    etag = dict(_call(app.wsgi_app, path, admin_token)[1])["ETag"]
    cases: list[tuple[str, str | None, dict[str, Any], str]] = [
        (path, None, {}, "401"),  # no credential
        (path, "fms_not-a-real-key", {}, "401"),
        (path, "", {"headers": {"Authorization": "Basic dXNlcjpwYXNz"}}, "401"),
        ("/api/v1/forms/01NOSUCHFORM0000000000000", admin_token, {}, "404"),
        (path, admin_token, {"headers": {"If-None-Match": etag}}, "304"),
        (path, admin_token, {"query": "fields=id"}, "200"),
        (path + "/", admin_token, {}, "404"),
        (path, admin_token, {"method": "HEAD"}, "200"),
    ]
    for case_path, token, kw, status in cases:
        (got, _headers, _body), fast = _both(app, case_path, token, **kw)
        assert not fast, (case_path, kw)
        assert got.startswith(status), (case_path, kw, got)


def test_shares_scopes_and_revokes_are_checked_on_every_fast_read(app: Flask, api: Api, svc: Services,
                                                                  form: dict[str, Any]) -> None:
    path = f"/api/v1/forms/{form['id']}"
    key = make_user_key(svc, "vera", "editor", "read")
    (status, _h, _b), fast = _both(app, path, key)
    assert status.startswith("404") and not fast  # no share, no form
    grant(api, svc, form["id"], "vera", "viewer")
    (status, _h, _b), fast = _both(app, path, key)
    assert status == "200 OK" and fast
    user = svc.store.get_user_by_name("vera")
    assert user is not None
    assert api.delete(f"/api/v1/forms/{form['id']}/shares/{user['id']}").status_code == 204
    (status, _h, _b), fast = _both(app, path, key)  # shares are read live: the next read is refused
    assert status.startswith("404") and not fast

    other = api.post("/api/v1/forms", {"title": "Other", "schema": SAMPLE_SCHEMA}).json
    scoped = make_user_key(svc, "root", "admin", "read", [other["id"]])
    (status, _h, _b), fast = _both(app, path, scoped)  # a key for another form only
    assert status.startswith("403") and not fast
    (status, _h, _b), fast = _both(app, f"/api/v1/forms/{other['id']}", scoped)
    assert status == "200 OK" and fast

    keys = api.get("/api/v1/api-keys").json["items"]
    mine = [k for k in keys if k["forms"] == [other["id"]]]
    assert len(mine) == 1
    assert api.delete(f"/api/v1/api-keys/{mine[0]['id']}").status_code == 204
    (status, _h, _b), fast = _both(app, f"/api/v1/forms/{other['id']}", scoped)
    assert status.startswith("401") and not fast


def test_an_edit_and_a_delete_are_seen_by_the_next_fast_read(app: Flask, api: Api, form: dict[str, Any],
                                                              admin_token: str) -> None:
    path = f"/api/v1/forms/{form['id']}"
    assert _both(app, path, admin_token)[1]
    assert api.put(path, {"title": "Contact v2", "schema": SAMPLE_SCHEMA}).status_code == 200
    (status, _h, body), fast = _both(app, path, admin_token)
    assert fast and json.loads(body)["title"] == "Contact v2" and json.loads(body)["version"] == 2
    assert api.delete(path).status_code == 204
    (status, _h, _b), fast = _both(app, path, admin_token)
    assert status.startswith("404") and not fast


def test_a_body_the_client_would_get_gzipped_is_compressed_as_flask_compress_does(app: Flask, api: Api,
                                                                                  admin_token: str) -> None:
    schema = {"type": "object", "properties": {f"field_{i}": {"type": "string", "title": "x" * 40} for i in range(40)}}
    big = api.post("/api/v1/forms", {"title": "Big", "schema": schema}).json
    path = f"/api/v1/forms/{big['id']}"
    for accept in ("gzip", "gzip, deflate, br", "*", "GZIP"):
        middleware: CachedFormReads = app.wsgi_app  # type: ignore[assignment]
        before = middleware.served
        status, headers, body = _call(middleware, path, admin_token, headers={"Accept-Encoding": accept})
        assert middleware.served == before + 1 and status == "200 OK", accept
        flask_status, flask_headers, flask_body = _call(middleware.inner, path, admin_token,
                                                        headers={"Accept-Encoding": accept})
        assert [k for k, _ in headers] == [k for k, _ in flask_headers] and status == flask_status
        same = {k: v for k, v in headers if k != "Date"}  # the clock's, and gzip's own mtime, may differ
        assert same == {k: v for k, v in flask_headers if k != "Date"}, (headers, flask_headers)
        assert same["Content-Encoding"] == "gzip" and same["ETag"].endswith(':gzip"')
        assert gzip.decompress(body) == gzip.decompress(flask_body)
        assert json.loads(gzip.decompress(body))["id"] == big["id"]
    (_status, headers, body), fast = _both(app, path, admin_token)  # no gzip asked: plain
    assert fast and "Content-Encoding" not in dict(headers) and len(body) >= 1024


def _fast_count(client: Any) -> float:
    rows = [ln for ln in client.get("/metrics").data.decode().splitlines()
            if ln.startswith('fms_http_requests_total{endpoint="/api/v1/forms/<form_id>",method="GET",status="200"}')]
    return float(rows[0].split()[-1]) if rows else 0.0


def test_a_fast_read_is_counted_and_logged_like_a_flask_one(app: Flask, client: Any, form: dict[str, Any],
                                                             admin_token: str) -> None:
    path = f"/api/v1/forms/{form['id']}"
    stream = io.StringIO()
    before = _fast_count(client)
    configure("api", "INFO", "", stream=stream)
    try:
        _call(app.wsgi_app, path, admin_token)  # fast
        counted = _fast_count(client)
        _call(app.wsgi_app.inner, path, admin_token)  # type: ignore[attr-defined]  # Flask
    finally:
        configure("api", "INFO", "")
    assert counted == before + 1
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if '"request"' in line and path in line]
    assert len(lines) == 2
    for line in lines:
        line.pop("timestamp"), line.pop("duration_ms")
    assert lines[0] == lines[1] and lines[0]["request_id"] == "same-id-both-ways" and lines[0]["status"] == 200


def test_a_bad_request_id_is_replaced_and_the_new_one_is_logged(app: Flask, form: dict[str, Any],
                                                                admin_token: str) -> None:
    stream = io.StringIO()
    configure("api", "INFO", "", stream=stream)
    try:
        before = app.wsgi_app.served  # type: ignore[attr-defined]
        _status, headers, _body = _call(app.wsgi_app, f"/api/v1/forms/{form['id']}", admin_token,
                                        headers={"X-Request-ID": "no spaces allowed"})
        assert app.wsgi_app.served == before + 1  # type: ignore[attr-defined]
    finally:
        configure("api", "INFO", "")
    given = dict(headers)["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", given)
    assert [json.loads(ln)["request_id"] for ln in stream.getvalue().splitlines() if '"request"' in ln] == [given]


def test_a_viewer_user_with_an_editor_share_and_other_spellings_get_flasks_answer(
        app: Flask, api: Api, svc: Services, form: dict[str, Any], admin_token: str) -> None:
    key = make_user_key(svc, "vic", "viewer", "read")
    grant(api, svc, form["id"], "vic", "editor")
    path = f"/api/v1/forms/{form['id']}"
    (status, _h, _b), fast = _both(app, path, key)
    assert status == "200 OK" and fast
    spelled = {"Authorization": f"bearer   {admin_token}"}
    for headers in (spelled, {**spelled, "Accept-Encoding": "GZIP"}, {**spelled, "Accept-Encoding": "*"}):
        (status, _h, _b), _fast = _both(app, path, None, headers=headers)
        assert status == "200 OK", headers


def test_a_failing_store_is_answered_by_flask_with_the_error_shape(app: Flask, api: Api, svc: Services,
                                                                   form: dict[str, Any]) -> None:
    key = make_user_key(svc, "sam", "editor", "read")
    grant(api, svc, form["id"], "sam", "viewer")
    path = f"/api/v1/forms/{form['id']}"
    assert _both(app, path, key)[1]
    with sqlite3.connect(svc.settings.sqlite_path) as db:  # a real failure: the shares table is gone
        db.execute("DROP TABLE form_shares")
    (status, headers, body), fast = _both(app, path, key)
    assert status.startswith("500") and not fast
    assert json.loads(body)["error"]["code"] == "internal_error"
    assert dict(headers)["X-Request-ID"] == "same-id-both-ways"


def test_an_expired_login_token_is_refused_by_the_next_fast_read(tmp_path: Any, redis_server: Any,
                                                                password_hash: str) -> None:
    app = create_app(make_settings(tmp_path, redis_server.url, token_ttl=2))
    seed_user(app.extensions["fms"], "root", "admin", password_hash)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"username": "root", "password": ADMIN_PASSWORD}).json["token"]
    made = Api(client, token).post("/api/v1/forms", {"title": "T", "schema": SAMPLE_SCHEMA}).json
    path = f"/api/v1/forms/{made['id']}"
    (status, _h, _b), fast = _both(app, path, token)
    assert status == "200 OK" and fast
    refused = wait_for(lambda: (a := _both(app, path, token))[0][0].startswith("401") and a, timeout=10, interval=0.1)
    assert not refused[1] and json.loads(refused[0][2])["error"]["code"] == "token_expired"


def test_a_refused_read_costs_the_store_one_credential_lookup(app: Flask, form: dict[str, Any]) -> None:
    from prometheus_client import REGISTRY

    def lookups() -> float:
        return sum(s.value for m in REGISTRY.collect() for s in m.samples
                   if s.name == "fms_store_query_seconds_count" and s.labels.get("operation") == "get_identity")

    path = f"/api/v1/forms/{form['id']}"
    costs = []
    for wsgi in (app.wsgi_app.inner, app.wsgi_app):  # type: ignore[attr-defined]  # Flask alone, then deployed
        before = lookups()
        assert _call(wsgi, path, "fms_not-a-real-key")[0] == "401 UNAUTHORIZED"
        costs.append(lookups() - before)
    assert costs == [1, 1]  # refusals are never kept, and the fast path's check is handed to Flask
