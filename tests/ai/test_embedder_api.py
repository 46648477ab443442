"""``similar`` through the shared embedder process: /ready reports it, a dead one is a 503 with Retry-After."""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path
from typing import Any

from app.settings import Settings
from tests.ai.conftest import ai_settings, start_embedder
from tests.conftest import Api
from tests.helpers import RedisServer

SCHEMA = {"type": "object", "properties": {"details": {"type": "string"}}}


def _app_without_embedder(tmp_path: Path, redis_server: RedisServer, model_paths: dict[str, Path]) -> tuple[Any, Api]:
    from app.factory import create_app
    from tests.conftest import ADMIN_PASSWORD, hash_once, seed_user

    settings: Settings = ai_settings(tmp_path, redis_server.url, model_paths,
                                     embedder_socket=str(tmp_path / "nobody-listens.sock"))
    app = create_app(settings)
    svc = app.extensions["fms"]
    user = seed_user(svc, "boss", "admin", hash_once(ADMIN_PASSWORD))
    key, _ = svc.auth.create_api_key(user["id"], "manage", None, "t", actor="t")
    return app, Api(app.test_client(), key)


def test_similar_is_503_with_retry_after_while_the_embedder_is_down(tmp_path: Path, redis_server: RedisServer,
                                                                    model_paths: dict[str, Path]) -> None:
    app, api = _app_without_embedder(tmp_path, redis_server, model_paths)
    form = api.post("/api/v1/forms", {"title": "t", "schema": SCHEMA, "settings": {"ai": {"embed": True}}}).json
    resp = api.get(f"/api/v1/forms/{form['id']}/similar?q=hello")
    assert resp.status_code == 503, resp.json
    assert resp.json["error"]["code"] == "model_unavailable" and "not running" in resp.json["error"]["message"]
    assert resp.headers["Retry-After"] == "5"
    assert resp.json["error"]["request_id"]
    assert api.get(f"/api/v1/forms/{form['id']}/duplicates").status_code == 200  # needs no embedder
    ready = app.test_client().get("/ready")
    assert ready.status_code == 200 and ready.json["checks"]["embedder"]["ok"] is False
    assert ready.json["status"] == "degraded"


def test_ready_reports_a_running_embedder(client: Any, api: Api) -> None:
    ready = client.get("/ready").json
    assert ready["checks"]["embedder"]["ok"] is True, ready


def test_the_embedder_process_removes_its_socket_on_sigterm(model_paths: dict[str, Path]) -> None:
    with tempfile.TemporaryDirectory(prefix="fms-emb-", dir="/tmp") as d:
        sock = Path(d) / "embedder.sock"
        proc = start_embedder(sock, model_paths, Path(d))
        assert sock.is_socket()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert not sock.exists()
