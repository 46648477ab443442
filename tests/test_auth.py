"""Authentication and authorisation on every route; audit chain."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from typing import Any

import pytest
from flask import Flask

from app.auth.service import token_hash
from app.services import Services
from tests.conftest import ADMIN_PASSWORD, Api, grant, make_settings, make_user_key, seed_user
from tests.helpers import wait_for

SAMPLE = {"form_id": "01ABC", "sub_id": "01DEF", "user_id": "01GHI", "key_id": "01JKL", "link_id": "01MNO",
          "token": "fml_nothing", "version": "1", "model_id": "01PQR", "bench_id": "01STU",
          "task_id": "01VWX", "hook_id": "01YZA", "delivery_id": "01BCD",
          "filename": "dashboard.js", "export_id": "01EFG"}


def _paths(app: Flask) -> list[tuple[str, str, bool]]:
    out = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: SAMPLE[m.group(1)], rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, path, getattr(view, "_fms_public", False)))
    return out


def test_every_route_but_the_public_ones_requires_authentication(app: Flask, client: Any) -> None:
    public = set()
    for method, path, is_public in _paths(app):
        resp = client.open(path, method=method, json={})
        if is_public:
            public.add(path.split("/")[1] if not path.startswith("/api/v1/public") else "public")
            continue
        assert resp.status_code == 401, f"{method} {path} answered {resp.status_code} without credentials"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert public == {"health", "ready", "metrics", "openapi.json", "docs", "api", "public", "dashboard"}


def test_public_views_are_only_the_expected_ones(app: Flask) -> None:
    public = {path for _, path, is_public in _paths(app) if is_public}
    assert public == {"/health", "/ready", "/metrics", "/openapi.json", "/docs", "/api/v1/auth/login",
                      "/api/v1/public/fml_nothing/form", "/api/v1/public/fml_nothing/submissions",
                      "/dashboard", "/dashboard/static/dashboard.js", "/docs/static/dashboard.js"}


def test_admin_routes_are_403_for_editors(app: Flask, svc: Services) -> None:
    editor = Api(app.test_client(), make_user_key(svc, "ed", "editor", "manage"))
    for method, path in [("GET", "/api/v1/users"), ("POST", "/api/v1/users"), ("GET", "/api/v1/audit"),
                         ("PATCH", "/api/v1/users/x"), ("DELETE", "/api/v1/users/x"), ("GET", "/api/v1/audit/verify")]:
        resp = editor.call(method, path, json={"role": "admin"})
        assert resp.status_code == 403, f"{method} {path}: {resp.status_code}"
        assert resp.json["error"]["code"] == "forbidden"


def test_scopes_and_form_restrictions(api: Api, svc: Services, form: dict[str, Any]) -> None:
    other = api.post("/api/v1/forms", {"title": "o", "schema": form["schema"]}).json
    reader = api.as_(make_user_key(svc, "editor1", "editor", "read"))
    for f in (form, other):  # shared: what limits editor1 below is each key, not the share
        grant(api, svc, f["id"], "editor1", "editor")
    assert reader.get(f"/api/v1/forms/{form['id']}").status_code == 200
    denied = reader.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": {"name": "a", "email": "a@b.co"}})
    assert denied.status_code == 403
    scoped = api.as_(make_user_key(svc, "editor1", "editor", "write", [form["id"]]))
    ok = scoped.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": {"name": "a", "email": "a@b.co"}})
    assert ok.status_code == 201
    assert scoped.get(f"/api/v1/forms/{other['id']}").status_code == 403
    assert [f["id"] for f in scoped.get("/api/v1/forms").json["items"]] == [form["id"]]
    first = scoped.get("/api/v1/forms?limit=1").json  # the newest form is not theirs: empty page, more to come
    assert first["items"] == [] and first["next_cursor"]
    assert [f["id"] for f in scoped.get(f"/api/v1/forms?limit=1&cursor={first['next_cursor']}").json["items"]] == [
        form["id"]]
    assert scoped.post("/api/v1/forms", {"title": "x", "schema": form["schema"]}).status_code == 403
    viewer = api.as_(make_user_key(svc, "v", "viewer", "read"))
    assert viewer.post("/api/v1/forms", {"title": "x", "schema": form["schema"]}).status_code == 403


def test_viewer_cannot_hold_a_write_key(api: Api, svc: Services) -> None:
    user = seed_user(svc, "v2", "viewer", svc.store.get_user_by_name("root")["password_hash"])
    resp = api.post("/api/v1/api-keys", {"user_id": user["id"], "scope": "write"})
    assert resp.status_code == 400 and resp.json["error"]["details"][0]["pointer"] == "/scope"


def test_api_key_is_shown_once_stored_hashed_and_revocable(api: Api, svc: Services) -> None:
    created = api.post("/api/v1/api-keys", {"name": "ci", "scope": "read"})
    assert created.status_code == 201
    key = created.json["key"]
    assert key.startswith("fms_") and len(key) > 40
    stored = svc.store.get_credential_by_hash(token_hash(key))
    assert stored is not None and key not in str(stored)
    listed = api.get("/api/v1/api-keys").json["items"]
    assert all("key" not in k and "token_hash" not in k for k in listed)
    assert api.as_(key).get("/api/v1/forms").status_code == 200
    assert api.delete(f"/api/v1/api-keys/{created.json['id']}").status_code == 204
    revoked = api.as_(key).get("/api/v1/forms")
    assert revoked.status_code == 401 and revoked.json["error"]["code"] == "invalid_credentials"


def test_login_issues_a_24h_token(api: Api, client: Any) -> None:
    resp = client.post("/api/v1/auth/login", json={"username": "root", "password": ADMIN_PASSWORD})
    assert resp.status_code == 200
    token = resp.json["token"]
    from app.util import now_iso, parse_iso

    ttl = (parse_iso(resp.json["expires_at"]) - parse_iso(now_iso())).total_seconds()
    assert 86_300 < ttl <= 86_400
    assert api.as_(token).get("/api/v1/users").status_code == 200


def test_expired_token_is_rejected(tmp_path: Any, redis_server: Any, password_hash: str) -> None:
    from app.factory import create_app

    app = create_app(make_settings(tmp_path, redis_server.url, token_ttl=1))
    seed_user(app.extensions["fms"], "root", "admin", password_hash)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"username": "root", "password": ADMIN_PASSWORD}).json["token"]
    api = Api(client, token)
    resp = wait_for(lambda: (r := api.get("/api/v1/forms")).status_code == 401 and r, timeout=5, interval=0.1)
    assert resp.json["error"]["code"] == "token_expired"


def test_failed_logins_are_rate_limited_per_user_and_ip(api: Api, client: Any, svc: Services) -> None:
    for _ in range(svc.settings.login_max_failures):
        bad = client.post("/api/v1/auth/login", json={"username": "root", "password": "wrong"})
        assert bad.status_code == 401
    blocked = client.post("/api/v1/auth/login", json={"username": "root", "password": ADMIN_PASSWORD})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    other_ip = client.post("/api/v1/auth/login", json={"username": "root", "password": ADMIN_PASSWORD},
                           environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other_ip.status_code == 200


@pytest.mark.parametrize("body", [{"username": "root"}, {"username": "root", "password": 1}, {"x": 1}])
def test_bad_login_bodies(client: Any, body: dict[str, Any]) -> None:
    resp = client.post("/api/v1/auth/login", json=body)
    assert resp.status_code == 422 and resp.json["error"]["details"]


def test_users_admin_flow(api: Api, client: Any) -> None:
    eve = {"username": "eve", "password": "password123", "role": "editor"}
    created = api.post("/api/v1/users", eve)
    assert created.status_code == 201 and "password_hash" not in created.json
    assert api.post("/api/v1/users", eve).status_code == 409
    uid = created.json["id"]
    assert api.patch(f"/api/v1/users/{uid}", {"active": False}).json["active"] is False
    login = client.post("/api/v1/auth/login", json={"username": "eve", "password": "password123"})
    assert login.status_code == 401
    assert api.delete(f"/api/v1/users/{uid}").status_code == 204
    assert api.delete(f"/api/v1/users/{uid}").status_code == 404


def test_audit_chain_records_events_and_detects_tampering(api: Api, svc: Services, settings: Any) -> None:
    api.post("/api/v1/users", {"username": "al", "password": "password123", "role": "viewer"})
    api.post("/api/v1/api-keys", {"scope": "read"})
    actions = [e["action"] for e in api.get("/api/v1/audit").json["items"]]
    assert "user.create" in actions and "apikey.create" in actions
    assert api.get("/api/v1/audit/verify").json["ok"] is True
    env = {"FMS_DATA_DIR": str(settings.data_dir), "REDIS_URL": settings.redis_url, "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "app.cli", "audit", "verify"]
    ok = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    with sqlite3.connect(settings.sqlite_path) as db:
        db.execute("UPDATE audit SET details = '{\"role\":\"admin\"}' WHERE seq = 2")
    broken = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1 and "seq 2" in broken.stderr
    assert api.get("/api/v1/audit/verify").json == {"ok": False, "checked": 1, "broken_seq": 2,
                                                    "reason": "entry was modified"}
