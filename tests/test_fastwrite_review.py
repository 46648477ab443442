"""The fast write path (:mod:`app.submissions.fastwrite`) on the requests an independent review
found it answering differently from Flask.

Why: the fast path's contract is "the deployed app answers exactly what Flask
alone would, and writes only what Flask would write". Each test here was such a
request until the middleware was fixed: a Content-Type werkzeug parses otherwise,
a body read before the credential check (stalled uploads holding gunicorn
threads), refusals checked twice, a non-ASCII digit Content-Length.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder

from app.factory import create_app
from app.services import Services
from app.store import SubmissionQuery
from tests.conftest import SAMPLE_SCHEMA, Api, make_settings, seed_user
from tests.helpers import RedisServer, free_port, gunicorn_server
from tests.test_fastwrite import VALID, _call, _fast

# Python's str.strip() removes these; werkzeug's Content-Type parser keeps them, so
# Flask sees e.g. the media type "application/json\xa0" and answers 415. gunicorn
# passes both bytes through (obs-text), so they reach the app as deployed.
ODD_SPACES = ("\xa0", "\x85")


def _stored(svc: Services, form_id: str) -> int:
    return svc.store.count_submissions(SubmissionQuery(form_id=form_id))


@pytest.mark.parametrize("space", ODD_SPACES)
def test_a_content_type_flask_refuses_is_not_accepted_by_the_fast_path(app: Flask, svc: Services,
                                                                       form: dict[str, Any], admin_token: str,
                                                                       space: str) -> None:
    path = f"/api/v1/forms/{form['id']}/submissions"
    flask_only = _call(_fast(app).inner, path, admin_token, headers={"Content-Type": f"application/json{space}"})
    assert flask_only[0] == "415 UNSUPPORTED MEDIA TYPE" and _stored(svc, form["id"]) == 0  # Flask: refused
    deployed = _call(app.wsgi_app, path, admin_token, headers={"Content-Type": f"application/json{space}"})
    assert deployed[0] == "415 UNSUPPORTED MEDIA TYPE", deployed
    assert _stored(svc, form["id"]) == 0


def test_a_non_ascii_digit_content_length_gets_flasks_answer(app: Flask, svc: Services, form: dict[str, Any],
                                                             admin_token: str) -> None:
    """Not reachable behind gunicorn (it refuses the header itself); behind another WSGI server it is."""
    path = f"/api/v1/forms/{form['id']}/submissions"

    def status(wsgi: Any) -> str:
        env = EnvironBuilder(path=path, method="POST", data=orjson.dumps({"answers": VALID}),
                             headers={"Authorization": f"Bearer {admin_token}",
                                      "Content-Type": "application/json"}).get_environ()
        env["CONTENT_LENGTH"] = "\xb2"  # SUPERSCRIPT TWO: one latin-1 header byte, and a Unicode digit
        got: list[str] = []
        b"".join(wsgi(env, lambda status, _headers, _exc=None: got.append(status)))
        return got[0]

    assert status(_fast(app).inner) == "400 BAD REQUEST"  # Flask alone: an empty body
    assert status(app.wsgi_app) == "400 BAD REQUEST"  # deployed: ValueError out of the middleware
    assert _stored(svc, form["id"]) == 0


def _store_reads(operation: str) -> float:
    """How many store operations ``operation`` this process has timed (fms_store_query_seconds)."""
    from prometheus_client import REGISTRY

    return sum(sample.value for metric in REGISTRY.collect() for sample in metric.samples
               if sample.name == "fms_store_query_seconds_count" and sample.labels.get("operation") == operation)


def test_a_refused_submission_costs_the_store_what_flask_alone_costs(app: Flask, form: dict[str, Any]) -> None:
    path = f"/api/v1/forms/{form['id']}/submissions"
    costs = []
    for wsgi in (_fast(app).inner, app.wsgi_app):  # Flask alone, then as deployed
        before = _store_reads("get_identity")
        assert _call(wsgi, path, "fms_not-a-real-key")[0] == "401 UNAUTHORIZED"
        costs.append(_store_reads("get_identity") - before)
    assert costs[0] == 1  # credentials that fail are never kept: one store read each
    assert costs[1] == costs[0]


@pytest.fixture(scope="module")
def seeded_gunicorn(tmp_path_factory: pytest.TempPathFactory,
                    redis_server: RedisServer,
                    password_hash: str) -> Iterator[tuple[tuple[str, int], str, str, Services]]:
    """The shipped gunicorn config over a data dir seeded with an admin key and one form."""
    tmp = tmp_path_factory.mktemp("fastwrite-review")
    settings = make_settings(tmp, redis_server.url)
    app = create_app(settings)
    svc: Services = app.extensions["fms"]
    user = seed_user(svc, "root", "admin", password_hash)
    key, _ = svc.auth.create_api_key(user["id"], "manage", None, "review", actor="review")
    resp = Api(app.test_client(), key).post("/api/v1/forms", {"title": "Contact", "schema": SAMPLE_SCHEMA})
    assert resp.status_code == 201, resp.json
    port = free_port()
    env = {**os.environ, "FMS_DATA_DIR": str(settings.data_dir), "REDIS_URL": redis_server.url,
           "FMS_WEB_WORKERS": "1", "FMS_SECRET_KEY": "test-secret"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with gunicorn_server(env, port, ready="/health"):
        yield ("127.0.0.1", port), key, resp.json["id"], svc


def _raw_post(address: tuple[str, int], path: str, headers: bytes, body: bytes) -> int:
    """A POST with header bytes no client library sends; the status code of the answer."""
    request = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + headers
               + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return int(b"".join(chunks).split(b" ", 2)[1])


@pytest.mark.slow
def test_behind_gunicorn_an_odd_content_type_is_refused_and_nothing_stored(
        seeded_gunicorn: tuple[tuple[str, int], str, str, Services]) -> None:
    address, key, form_id, svc = seeded_gunicorn
    path = f"/api/v1/forms/{form_id}/submissions"
    auth = b"Authorization: Bearer " + key.encode() + b"\r\n"
    plain = _raw_post(address, path, auth + b"Content-Type: application/json\r\n", orjson.dumps({"answers": VALID}))
    assert plain == 201 and _stored(svc, form_id) == 1  # the server and the key work
    odd = _raw_post(address, path, auth + b"Content-Type: application/json\xa0\r\n", orjson.dumps({"answers": VALID}))
    assert (odd, _stored(svc, form_id)) == (415, 1)


def _status_before_the_body(address: tuple[str, int], path: str, wait: float) -> int | None:
    """The status of a POST whose headers announce a body that never comes; None if no answer in ``wait`` s."""
    with socket.create_connection(address, timeout=wait) as sock:
        sock.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n")
        try:
            head = sock.recv(65536)
        except TimeoutError:
            return None
    return int(head.split(b" ", 2)[1])


@pytest.mark.slow
def test_behind_gunicorn_an_unauthenticated_stalled_upload_is_refused_at_once(
        seeded_gunicorn: tuple[tuple[str, int], str, str, Services]) -> None:
    address, _key, form_id, _svc = seeded_gunicorn
    # the control: a POST only Flask serves gets its 401 before any body byte is sent
    assert _status_before_the_body(address, "/api/v1/forms", 3.0) == 401
    assert _status_before_the_body(address, f"/api/v1/forms/{form_id}/submissions", 3.0) == 401


@pytest.mark.slow
def test_behind_gunicorn_stalled_unauthenticated_uploads_do_not_stop_the_worker(
        seeded_gunicorn: tuple[tuple[str, int], str, str, Services]) -> None:
    import requests

    address, _key, form_id, _svc = seeded_gunicorn
    threads = 4  # app/process_tree.py: the api row's gthread threads; the fixture runs one worker

    def health_while_stalled(path: str) -> bool:
        stalled = [socket.create_connection(address, timeout=10) for _ in range(threads)]
        try:
            for sock in stalled:
                sock.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
            # gunicorn drains an unread body for at most 5 s after the answer, then frees the thread
            return requests.get(f"http://{address[0]}:{address[1]}/health", timeout=9).status_code == 200
        except requests.Timeout:
            return False
        finally:
            for sock in stalled:
                sock.close()

    assert health_while_stalled("/api/v1/forms")  # a POST only Flask serves: refused at the headers
    assert health_while_stalled(f"/api/v1/forms/{form_id}/submissions")
