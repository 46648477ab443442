"""Submissions accepted before Flask get Flask's answer, and a write never runs twice
(:mod:`app.submissions.fastwrite`).

Why: the middleware runs the view's checks outside Flask's dispatch and writes
the submission itself. A check it skipped, a header it forgot or an error it
answered its own way would reach clients only through that path; handing a
request to Flask *after* the write would store it twice. Each request here goes
through the app as deployed (middlewares in front) and straight to Flask, with
the same ``X-Request-ID``; refusals (nothing written on either path) and
idempotent replays must be byte for byte the same, and two fresh creates the
same but for their ids and times. ``served`` shows which path answered, and the
store's count shows what was written.
"""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
from typing import Any

import orjson
from flask import Flask
from werkzeug.test import EnvironBuilder

from app.observability.logging import configure
from app.services import Services
from app.store import SubmissionQuery
from app.submissions.fastwrite import FastSubmissions
from tests.conftest import Api, grant, make_user_key
from tests.helpers import WsgiAnswer, call_wsgi

Answer = WsgiAnswer
VALID = {"name": "Ada", "email": "ada@example.org", "age": 36}


def _call(wsgi: Any, path: str, token: str | None, body: bytes | None = None,
          headers: dict[str, str] | None = None, query: str = "") -> Answer:
    hdrs = {"X-Request-ID": "same-id-both-ways", "Content-Type": "application/json", **(headers or {})}
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    data = orjson.dumps({"answers": VALID}) if body is None else body
    env = EnvironBuilder(path=path, method="POST", headers=hdrs, data=data, query_string=query).get_environ()
    return call_wsgi(wsgi, env)


def _fast(app: Flask) -> FastSubmissions:
    fast = app.wsgi_app.inner  # type: ignore[attr-defined]  # behind the cached form reads
    assert isinstance(fast, FastSubmissions)
    return fast


def _both(app: Flask, path: str, token: str | None, **kw: Any) -> tuple[Answer, Answer, bool]:
    """The deployed answer, Flask's alone, and whether the fast path gave the first."""
    fast = _fast(app)
    before = fast.served
    deployed = _call(app.wsgi_app, path, token, **kw)
    served = fast.served == before + 1
    return deployed, _call(fast.inner, path, token, **kw), served


def _stored(svc: Services, form_id: str) -> int:
    return svc.store.count_submissions(SubmissionQuery(form_id=form_id))


def _without_ids(answer: Answer) -> tuple[str, list[tuple[str, str]], dict[str, Any]]:
    status, headers, raw = answer
    body = json.loads(gzip.decompress(raw) if dict(headers).get("Content-Encoding") == "gzip" else raw)
    for key in ("id", "created_at", "updated_at"):
        body.pop(key)
    named = [(k, v) for k, v in headers if k not in {"Location", "Content-Length"}]
    return status, named, body


def test_a_valid_submission_is_stored_once_with_flasks_answer(app: Flask, svc: Services, form: dict[str, Any],
                                                               admin_token: str) -> None:
    path = f"/api/v1/forms/{form['id']}/submissions"
    deployed, flask_only, served = _both(app, path, admin_token)
    assert served and deployed[0] == "201 CREATED"
    assert [k for k, _ in deployed[1]] == [k for k, _ in flask_only[1]]
    assert _without_ids(deployed) == _without_ids(flask_only)
    created = json.loads(deployed[2])
    assert dict(deployed[1])["Location"] == f"/api/v1/submissions/{created['id']}"
    assert _stored(svc, form["id"]) == 2  # one per path, not more
    assert svc.store.get_submission(created["id"])["answers"] == VALID
    topics = [e["topic"] for e in svc.store.pending_events(10)]
    assert topics.count("submission.created") == 2  # the event is written with the row on both paths


def test_an_idempotent_replay_is_the_same_answer_on_both_paths(app: Flask, svc: Services, form: dict[str, Any],
                                                               admin_token: str) -> None:
    path = f"/api/v1/forms/{form['id']}/submissions"
    key = {"Idempotency-Key": "order-42"}
    first = _call(app.wsgi_app, path, admin_token, headers=key)
    assert first[0] == "201 CREATED" and _stored(svc, form["id"]) == 1
    deployed, flask_only, served = _both(app, path, admin_token, headers=key)
    assert served and deployed == flask_only
    assert dict(deployed[1])["Idempotent-Replayed"] == "true" and json.loads(deployed[2]) == json.loads(first[2])
    assert _stored(svc, form["id"]) == 1


def test_every_refusal_goes_to_flask_and_nothing_is_written(app: Flask, api: Api, svc: Services,
                                                             form: dict[str, Any], admin_token: str) -> None:
    path = f"/api/v1/forms/{form['id']}/submissions"
    assert _call(app.wsgi_app, path, admin_token, headers={"Idempotency-Key": "k1"})[0] == "201 CREATED"
    viewer = make_user_key(svc, "val", "editor", "write")
    grant(api, svc, form["id"], "val", "viewer")
    too_big = orjson.dumps({"answers": {"name": "x" * (svc.settings.max_body_bytes + 1), "email": "a@b.org"}})
    cases: list[tuple[str, str | None, dict[str, Any], str]] = [
        (path, None, {}, "401"),
        (path, "fms_not-a-real-key", {}, "401"),
        (path, viewer, {}, "403"),
        ("/api/v1/forms/01NOSUCHFORM0000000000000/submissions", admin_token, {}, "404"),
        (path, admin_token, {"body": orjson.dumps({"answers": {"name": "", "email": "nope", "age": 200}})}, "422"),
        (path, admin_token, {"body": orjson.dumps({"answers": VALID, "extra": 1})}, "422"),
        (path, admin_token, {"body": b'{"answers": {"name": "Ada",'}, "400"),
        (path, admin_token, {"body": b'{"answers": {"name": NaN}}'}, "400"),
        (path, admin_token, {"body": b""}, "400"),
        (path, admin_token, {"headers": {"Content-Type": "text/plain"}}, "415"),
        (path, admin_token, {"body": too_big}, "413"),
        (path, admin_token, {"headers": {"Idempotency-Key": "x" * 256}}, "400"),
        (path, admin_token, {"headers": {"Idempotency-Key": "k1"},
                             "body": orjson.dumps({"answers": {**VALID, "age": 37}})}, "409"),
        (path + "/", admin_token, {}, "404"),
    ]
    for case_path, token, kw, status in cases:
        deployed, flask_only, served = _both(app, case_path, token, **kw)
        assert not served, (case_path, kw)
        assert deployed == flask_only, (deployed, flask_only)
        assert deployed[0].startswith(status), (case_path, kw, deployed[0], deployed[2])
    assert _stored(svc, form["id"]) == 1
    invalid = json.loads(_call(app.wsgi_app, path, admin_token, body=cases[4][2]["body"])[2])
    assert {d["pointer"] for d in invalid["error"]["details"]} == {"/answers/name", "/answers/email", "/answers/age"}


def test_what_the_fast_path_does_not_read_goes_to_flask_and_is_stored_there(app: Flask, svc: Services,
                                                                            form: dict[str, Any],
                                                                            admin_token: str) -> None:
    path = f"/api/v1/forms/{form['id']}/submissions"
    for kw in ({"query": "x=1"}, {"headers": {"Content-Type": "application/vnd.fms+json; charset=utf-8"}}):
        fast = _fast(app)
        before = fast.served
        status, _headers, _body = _call(app.wsgi_app, path, admin_token, **kw)
        # a +json type is read by the fast path too; a query string is not
        assert status == "201 CREATED" and (fast.served == before + 1) == ("headers" in kw), kw
    assert _stored(svc, form["id"]) == 2


def test_a_big_answer_is_gzipped_as_flask_compress_would(app: Flask, svc: Services, form: dict[str, Any],
                                                          admin_token: str) -> None:
    path = f"/api/v1/forms/{form['id']}/submissions"
    body = orjson.dumps({"answers": {**VALID, "phone": "5" * 2000}})
    for accept in ("gzip", "gzip, deflate, br", "*", "GZIP;q=1"):
        deployed, flask_only, served = _both(app, path, admin_token, body=body, headers={"Accept-Encoding": accept})
        assert served and dict(deployed[1])["Content-Encoding"] == "gzip", accept
        assert _without_ids(deployed) == _without_ids(flask_only)
        assert [k for k, _ in deployed[1]] == [k for k, _ in flask_only[1]]
    for accept in ("identity", "br"):
        deployed, flask_only, served = _both(app, path, admin_token, body=body, headers={"Accept-Encoding": accept})
        assert served and "Content-Encoding" not in dict(deployed[1]), accept
        assert _without_ids(deployed) == _without_ids(flask_only)


def test_a_write_that_fails_is_answered_here_and_never_retried_by_flask(app: Flask, svc: Services,
                                                                        form: dict[str, Any],
                                                                        admin_token: str) -> None:
    path = f"/api/v1/forms/{form['id']}/submissions"
    with sqlite3.connect(svc.settings.sqlite_path) as db:  # a real failure inside the write: no outbox table
        db.execute("DROP TABLE outbox")
    fast = _fast(app)
    before, flask_calls = fast.served, []
    inner = fast.inner
    fast.inner = lambda env, start: flask_calls.append(1) or inner(env, start)  # type: ignore[method-assign]
    try:
        stream = io.StringIO()
        configure("api", "INFO", "", stream=stream)
        try:
            deployed = _call(app.wsgi_app, path, admin_token)
        finally:
            configure("api", "INFO", "")
    finally:
        fast.inner = inner  # type: ignore[method-assign]
    assert fast.served == before + 1 and not flask_calls
    flask_only = _call(inner, path, admin_token)
    assert deployed == flask_only and deployed[0] == "500 INTERNAL SERVER ERROR"
    assert json.loads(deployed[2])["error"] == {"code": "internal_error", "message": "internal server error",
                                                "details": [], "request_id": "same-id-both-ways"}
    assert _stored(svc, form["id"]) == 0
    assert any(json.loads(ln).get("message") == "unhandled error" for ln in stream.getvalue().splitlines())


def _count(client: Any, status: str) -> float:
    prefix = ('fms_http_requests_total{endpoint="/api/v1/forms/<form_id>/submissions",'
              f'method="POST",status="{status}"}}')
    rows = [ln for ln in client.get("/metrics").data.decode().splitlines() if ln.startswith(prefix)]
    return float(rows[0].split()[-1]) if rows else 0.0


def test_a_fast_submission_is_counted_and_logged_like_a_flask_one(app: Flask, client: Any, form: dict[str, Any],
                                                                   admin_token: str) -> None:
    path = f"/api/v1/forms/{form['id']}/submissions"
    stream = io.StringIO()
    before = _count(client, "201")
    configure("api", "INFO", "", stream=stream)
    try:
        _call(app.wsgi_app, path, admin_token)  # fast
        counted = _count(client, "201")
        _call(_fast(app).inner, path, admin_token)  # Flask
    finally:
        configure("api", "INFO", "")
    assert counted == before + 1 and _count(client, "201") == before + 2
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if '"request"' in line and path in line]
    assert len(lines) == 2
    for line in lines:
        line.pop("timestamp"), line.pop("duration_ms")
    assert lines[0] == lines[1] and lines[0]["request_id"] == "same-id-both-ways" and lines[0]["status"] == 201
