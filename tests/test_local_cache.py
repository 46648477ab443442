"""Per-process copies of credentials and forms never outlive a revoke or an edit by more than a second.

Why: authentication and the form read are served from a copy in each worker
(:class:`app.cache.LocalCache`); what makes that safe is that a revoke, a user
change or a form edit in any process drops every copy everywhere within
``check_every`` (0.25 s). These tests show it across apps in one process, and
across the workers of a real gunicorn.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from app.cache import LocalCache
from app.factory import create_app
from tests.conftest import SAMPLE_SCHEMA, Api, make_settings
from tests.helpers import RedisServer, free_port, gunicorn_server

BOUND_S = 1.0  # the promise: every process refuses a revoked key within a second


def test_a_copy_read_before_a_drop_is_not_kept(redis_server: RedisServer) -> None:
    local = LocalCache(redis_server.client(0))
    generation = local.generation
    local.put("identity", "a", "kept", generation)
    assert local.get("identity", "a") == "kept"
    stale = local.generation  # a reader starts here, then someone bumps before it puts
    local.bump()
    local.put("identity", "b", "old", stale)
    assert local.get("identity", "b") is None and local.get("identity", "a") is None


def test_a_change_after_the_cache_redis_lost_its_data_still_drops_other_copies(redis_server: RedisServer) -> None:
    """A cache Redis restarted empty (or the key evicted), then one change: a counter would read
    the same value as before the restart and the other process would keep its stale copy."""
    client = redis_server.client(0)
    client.flushall()
    reader, writer = LocalCache(client, check_every=0.0), LocalCache(client, check_every=0.0)
    writer.bump()  # the epoch exists before the restart
    reader.put("identity", "key", "before", reader.generation)
    assert reader.get("identity", "key") == "before"
    client.flushall()  # the restart
    writer.bump()  # the one change after it (a revoke)
    assert reader.get("identity", "key") is None


def test_while_redis_fails_nothing_is_kept_and_copies_come_back_after(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        local = LocalCache(server.client(0), check_every=0.0, retry_after=0.0)
        local.put("identity", "a", "kept", local.generation)
        assert local.get("identity", "a") == "kept"
        server.stop()
        assert local.get("identity", "a") is None  # the failed check dropped it
        local.put("identity", "a", "again", local.generation)
        assert local.get("identity", "a") is None  # and nothing is kept while Redis fails
    finally:
        server.stop()
    server.start()
    try:
        local.put("identity", "a", "back", local.generation)
        assert local.get("identity", "a") == "back"
    finally:
        server.stop()


def test_forms_are_kept_within_their_own_small_limit(redis_server: RedisServer) -> None:
    local = LocalCache(redis_server.client(0), limits={"form": 2})
    for i in range(3):
        local.put("form", f"f{i}", {"id": i}, local.generation)
        local.put("identity", f"k{i}", i, local.generation)
    assert [local.get("form", f"f{i}") for i in range(3)] == [None, None, {"id": 2}]  # the third emptied it
    assert [local.get("identity", f"k{i}") for i in range(3)] == [0, 1, 2]  # other namespaces untouched


def test_without_redis_nothing_is_kept() -> None:
    local = LocalCache(None)
    local.put("form", "f", {"id": "f"}, local.generation)
    assert local.get("form", "f") is None


def test_a_revoke_in_one_app_is_refused_by_another_within_the_bound(tmp_path: Path,
                                                                    redis_server: RedisServer) -> None:
    settings = make_settings(tmp_path, redis_server.url)
    one, two = create_app(settings), create_app(settings)  # two stores on one file: two "processes"
    svc = one.extensions["fms"]
    user = svc.auth.create_user("root", "password123", "admin", actor="t")
    key, record = svc.auth.create_api_key(user["id"], "manage", None, "t", actor="t")
    api_one, api_two = Api(one.test_client(), key), Api(two.test_client(), key)
    form = api_one.post("/api/v1/forms", {"title": "before", "schema": SAMPLE_SCHEMA}).json
    assert api_two.get(f"/api/v1/forms/{form['id']}").json["title"] == "before"  # now cached in two

    assert api_one.put(f"/api/v1/forms/{form['id']}", {"title": "after", "schema": SAMPLE_SCHEMA}).status_code == 200
    edited = time.monotonic()
    _poll(lambda: api_two.get(f"/api/v1/forms/{form['id']}").json["title"] == "after", edited, "the edit")

    assert api_one.delete(f"/api/v1/api-keys/{record['id']}").status_code == 204
    revoked = time.monotonic()
    assert api_one.get("/api/v1/forms").status_code == 401  # the revoking process: at once
    _poll(lambda: api_two.get("/api/v1/forms").status_code == 401, revoked, "the revoke")


def _poll(done: Any, since: float, what: str) -> None:
    while not done():
        assert time.monotonic() - since < BOUND_S, f"{what} not seen by the other app within {BOUND_S}s"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def three_workers(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[str]:
    data = tmp_path_factory.mktemp("local-cache-gunicorn")
    env = {**os.environ, "FMS_DATA_DIR": str(data), "REDIS_URL": redis_server.url, "FMS_WEB_WORKERS": "3",
           "FMS_SECRET_KEY": "k", "FMS_BOOTSTRAP_ADMIN": "root:password123"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with gunicorn_server(env, free_port(), log_path=data / "gunicorn.log") as base:
        yield base


def _once(base: str, path: str, token: str) -> tuple[float, int, Any]:
    """One request on a fresh connection (the kernel spreads those over the workers): (sent, status, body)."""
    sent = time.monotonic()
    resp = requests.get(base + path, headers={"Authorization": f"Bearer {token}", "Connection": "close"}, timeout=10)
    return sent, resp.status_code, resp.json()


def _after(base: str, path: str, token: str, since: float, late: int = 30,
           deadline_s: float = 60.0) -> list[tuple[float, int, Any]]:
    """Requests from now until ``late`` of them were sent more than BOUND_S after ``since``
    (however slow a loaded machine makes each one; 60 s at most)."""
    out: list[tuple[float, int, Any]] = []
    while sum(1 for sent, _, _ in out if sent > since + BOUND_S) < late:
        assert time.monotonic() - since < deadline_s, "too few requests got through"
        out.append(_once(base, path, token))
    return out


def test_every_gunicorn_worker_refuses_a_revoked_key_and_serves_an_edit_within_a_second(three_workers: str) -> None:
    base = three_workers
    token = requests.post(f"{base}/api/v1/auth/login", json={"username": "root", "password": "password123"},
                          timeout=10).json()["token"]
    admin = {"Authorization": f"Bearer {token}"}
    made = requests.post(f"{base}/api/v1/api-keys", json={"name": "doomed", "scope": "read"}, headers=admin,
                         timeout=10).json()
    form = requests.post(f"{base}/api/v1/forms", json={"title": "before", "schema": SAMPLE_SCHEMA},
                         headers=admin, timeout=10).json()
    # Warm every worker: 60 fresh connections over 3 workers leave none out (odds of one missed: 3 x (2/3)^60);
    # after each change, 30 requests sent past the bound check them all again (odds: 3 x (2/3)^30, 2e-5).
    warm = [_once(base, f"/api/v1/forms/{form['id']}", made["key"]) for _ in range(60)]
    assert all(status == 200 and body["title"] == "before" for _, status, body in warm)

    assert requests.put(f"{base}/api/v1/forms/{form['id']}", json={"title": "after", "schema": SAMPLE_SCHEMA},
                        headers=admin, timeout=10).status_code == 200
    edited = time.monotonic()
    after_edit = _after(base, f"/api/v1/forms/{form['id']}", made["key"], edited)
    late = [(status, body["title"]) for sent, status, body in after_edit if sent > edited + BOUND_S]
    assert set(late) == {(200, "after")}, late

    assert requests.delete(f"{base}/api/v1/api-keys/{made['id']}", headers=admin, timeout=10).status_code == 204
    revoked = time.monotonic()
    after_revoke = _after(base, f"/api/v1/forms/{form['id']}", made["key"], revoked)
    late_codes = [status for sent, status, _ in after_revoke if sent > revoked + BOUND_S]
    assert set(late_codes) == {401}, late_codes
    first_refusal = min(sent for sent, status, _ in after_revoke if status == 401)
    assert first_refusal - revoked < BOUND_S
