"""Fixtures: a real redis-server per session, a real SQLite file per test."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.auth.service import hash_password
from app.factory import create_app
from app.services import Services
from app.settings import Settings
from app.util import new_id, now_iso
from tests.helpers import RedisServer

SAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "email"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "email": {"type": "string", "format": "email"},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "score": {"type": "number"},
        "subscribed": {"type": "boolean"},
        "topic": {"enum": ["billing", "bug", "other"]},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}},
        "phone": {"type": "string"},
    },
}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


def make_settings(tmp_path: Path, redis_url: str, **overrides: Any) -> Settings:
    # Summaries inline: most tests run no worker. The default (every summary on the analytics queue, the
    # request waiting for the worker's result) is tested with a real worker in tests/test_analytics_offload.py.
    base: dict[str, Any] = {"env": "test", "data_dir": tmp_path / "data", "redis_url": redis_url,
                            "secret_key": "test-secret", "sqlite_synchronous": "NORMAL",
                            "analytics_inline_max_rows": 1_000_000}
    base.update(overrides)
    return Settings.from_env(environ={}, dotenv=None, **base)


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    redis_server.client(0).flushall()
    return make_settings(tmp_path, redis_server.url)


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def svc(app: Flask) -> Services:
    return app.extensions["fms"]  # type: ignore[no-any-return]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Api:
    """A tiny client that adds the bearer header and returns (status, json)."""

    def __init__(self, client: FlaskClient, token: str | None = None) -> None:
        self.client = client
        self.token = token

    def as_(self, token: str | None) -> Api:
        return Api(self.client, token)

    def call(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None,
             **kw: Any) -> Any:
        hdrs = dict(headers or {})
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        return self.client.open(path, method=method, json=json, headers=hdrs, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.call("PUT", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.call("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.call("DELETE", path, **kw)


ADMIN_PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def password_hash() -> str:
    """Argon2 is slow on purpose (~0.3 s here); hash the fixture password once."""
    return hash_password(ADMIN_PASSWORD)


@lru_cache(maxsize=8)
def hash_once(password: str) -> str:
    return hash_password(password)


def seed_user(svc: Services, username: str, role: str, password_hash: str) -> dict[str, Any]:
    now = now_iso()
    user = {"id": new_id(), "username": username, "password_hash": password_hash, "role": role,
            "active": 1, "created_at": now, "updated_at": now}
    svc.store.create_user(user)
    return user


@pytest.fixture
def admin_token(svc: Services, password_hash: str) -> str:
    user = seed_user(svc, "root", "admin", password_hash)
    key, _ = svc.auth.create_api_key(user["id"], "manage", None, "test", actor="test")
    return key


@pytest.fixture
def api(client: FlaskClient, admin_token: str) -> Api:
    return Api(client, admin_token)


@pytest.fixture
def form(api: Api) -> dict[str, Any]:
    resp = api.post("/api/v1/forms", {"title": "Contact", "schema": SAMPLE_SCHEMA, "sensitive": ["phone"]})
    assert resp.status_code == 201, resp.json
    return resp.json  # type: ignore[no-any-return]


def make_user_key(svc: Services, username: str, role: str, scope: str, forms: list[str] | None = None) -> str:
    user = svc.store.get_user_by_name(username) or seed_user(svc, username, role, hash_once("password123"))
    key, _ = svc.auth.create_api_key(user["id"], scope, forms, "t", actor="t")
    return key


def grant(api: Api, svc: Services, form_id: str, username: str, role: str) -> None:
    """Share a form with an existing user through the API (``api`` must manage the form)."""
    user = svc.store.get_user_by_name(username)
    assert user is not None, username
    resp = api.put(f"/api/v1/forms/{form_id}/shares/{user['id']}", {"role": role})
    assert resp.status_code in (200, 201), resp.json


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A real HTTP webhook receiver on loopback (the chaos script's own)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "chaos"))
    from receiver import Receiver

    r = Receiver().start()
    yield r
    r.stop()
