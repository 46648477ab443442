"""HTTP behaviour shared by every endpoint: errors, request ids, gzip, limits, OpenAPI."""

from __future__ import annotations

import gzip
import re
from typing import Any

from flask import Flask
from openapi_spec_validator import validate

from app.services import Services
from tests.conftest import Api, make_settings


def test_request_id_is_echoed_or_generated(api: Api) -> None:
    assert api.get("/health", headers={"X-Request-ID": "abc.123"}).headers["X-Request-ID"] == "abc.123"
    generated = api.get("/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    hostile = api.get("/health", headers={"X-Request-ID": "bad id with spaces!"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", hostile)


def test_errors_share_one_shape_with_request_id(api: Api) -> None:
    for resp in (api.get("/api/v1/forms/missing", headers={"X-Request-ID": "r1"}),
                 api.get("/nope", headers={"X-Request-ID": "r1"}),
                 api.call("PATCH", "/api/v1/forms", headers={"X-Request-ID": "r1"})):
        err = resp.json["error"]
        assert set(err) == {"code", "message", "details", "request_id"}
        assert err["request_id"] == "r1"
    assert api.call("PATCH", "/api/v1/forms").status_code == 405


def test_malformed_json_and_wrong_content_type(api: Api, form: dict[str, Any]) -> None:
    path = f"/api/v1/forms/{form['id']}/submissions"
    resp = api.call("POST", path, data=b'{"answers": {', headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json["error"]["code"] == "malformed_json"
    resp = api.call("POST", path, data=b"answers=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 415 and resp.json["error"]["details"][0]["pointer"] == "Content-Type"
    resp = api.call("POST", path, data=b"", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400


def test_oversized_body_is_413_and_nothing_is_written(tmp_path: Any, redis_server: Any, admin_token: str) -> None:
    from app.factory import create_app
    from tests.conftest import SAMPLE_SCHEMA

    small = create_app(make_settings(tmp_path / "s", redis_server.url, max_body_bytes=2048))
    svc: Services = small.extensions["fms"]
    user = svc.auth.create_user("big", "password123", "admin", actor="t")
    key, _ = svc.auth.create_api_key(user["id"], "manage", None, "t", actor="t")
    api = Api(small.test_client(), key)
    form = api.post("/api/v1/forms", {"title": "t", "schema": SAMPLE_SCHEMA}).json
    resp = api.post(f"/api/v1/forms/{form['id']}/submissions",
                    {"answers": {"name": "x" * 5000, "email": "a@b.co"}})
    assert resp.status_code == 413 and resp.json["error"]["code"] == "payload_too_large"
    from app.store import SubmissionQuery

    assert svc.store.count_submissions(SubmissionQuery(form_id=form["id"])) == 0


def test_gzip_only_above_1kb(api: Api, form: dict[str, Any]) -> None:
    small = api.get("/health", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers
    for i in range(20):
        api.post(f"/api/v1/forms/{form['id']}/submissions",
                 {"answers": {"name": f"person {i}", "email": "p@example.org"}})
    big = api.get(f"/api/v1/forms/{form['id']}/submissions", headers={"Accept-Encoding": "gzip"})
    assert big.headers["Content-Encoding"] == "gzip"
    import json

    assert len(json.loads(gzip.decompress(big.data))["items"]) == 20


def test_openapi_is_valid_and_documents_every_route(app: Flask, client: Any) -> None:
    doc = client.get("/openapi.json").json
    validate(doc)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, path) in documented, f"{method} {path} is not in /openapi.json"


def test_docs_page(client: Any) -> None:
    resp = client.get("/docs")
    assert resp.status_code == 200 and b"/docs/static/docs.js" in resp.data  # Swagger UI: tests/test_docs.py


def test_health_and_ready(client: Any) -> None:
    assert client.get("/health").json == {"status": "ok"}
    ready = client.get("/ready").json
    assert ready["checks"]["store"]["ok"] and ready["checks"]["redis"]["ok"]


def test_metrics_are_loopback_only(client: Any, api: Api) -> None:
    api.get("/api/v1/forms")
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert b'fms_http_requests_total{endpoint="/api/v1/forms",method="GET",status="200"}' in resp.data
    assert b"fms_store_query_seconds" in resp.data
    remote = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 403
