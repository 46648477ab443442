"""The cache is an optimisation: with Redis stopped mid-run the API keeps answering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.factory import create_app
from app.services import Services
from tests.conftest import SAMPLE_SCHEMA, Api, make_settings
from tests.helpers import RedisServer


def test_api_serves_from_the_store_while_redis_is_down(tmp_path: Path) -> None:
    redis_srv = RedisServer(tmp_path / "redis").start()
    try:
        app = create_app(make_settings(tmp_path, redis_srv.url))
        svc: Services = app.extensions["fms"]
        user = svc.auth.create_user("r", "password123", "admin", actor="t")
        key, _ = svc.auth.create_api_key(user["id"], "manage", None, "t", actor="t")
        api = Api(app.test_client(), key)
        form = api.post("/api/v1/forms", {"title": "T", "schema": SAMPLE_SCHEMA}).json
        assert api.get(f"/api/v1/forms/{form['id']}").status_code == 200
        assert svc.cache.get("form", form["id"]) is not None  # cached while Redis is up

        redis_srv.stop()
        got = api.get(f"/api/v1/forms/{form['id']}")
        assert got.status_code == 200 and got.json["id"] == form["id"]
        created = api.post(f"/api/v1/forms/{form['id']}/submissions",
                           {"answers": {"name": "n", "email": "n@example.org"}})
        assert created.status_code == 201
        assert api.put(f"/api/v1/forms/{form['id']}", {"title": "edited", "schema": SAMPLE_SCHEMA}).status_code == 200
        assert api.get(f"/api/v1/forms/{form['id']}").json["title"] == "edited"
        ready = app.test_client().get("/ready")
        assert ready.status_code == 200 and ready.json["status"] == "degraded"
        assert ready.json["checks"]["redis"]["ok"] is False
        assert len(svc.store.pending_events(10)) == 1  # the event waits in the outbox
    finally:
        redis_srv.stop()


def test_cache_hits_and_misses_are_counted(api: Api, form: dict[str, Any], client: Any) -> None:
    for _ in range(3):
        api.get(f"/api/v1/forms/{form['id']}")
    text = client.get("/metrics").data.decode()
    prefix = 'fms_cache_requests_total{namespace="form",result="hit"}'
    hits = [line for line in text.splitlines() if line.startswith(prefix)]
    assert hits and float(hits[0].split()[-1]) >= 2


def test_cache_keys_are_namespaced_with_ttl(api: Api, form: dict[str, Any], svc: Services,
                                            redis_server: RedisServer) -> None:
    api.get(f"/api/v1/forms/{form['id']}")
    raw = redis_server.client(1)
    key = f"fms:cache:v1:form:{form['id']}"
    assert raw.exists(key)
    assert 0 < raw.ttl(key) <= svc.settings.cache_ttl
