"""Issue 10 (memory): big summaries go to the ``analytics`` queue, the rest wait for the host's analytics lock.

Real parts throughout: SQLite, the daily Parquet export, DuckDB, the session's
redis-server, a real Dramatiq worker on ``analytics`` (tests/analytics_worker.py)
and the real ``flock`` in the data dir. The seeded form holds 7 stored
submissions (tests/analytics_seed.py), so an inline limit of 3 makes it "big".
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from flask import Flask

from app.analytics import claims
from app.analytics.claims import Claims
from app.analytics.gate import HeavyGate, Hold, lock_path
from app.analytics.service import ACTOR, AnalyticsService
from app.cache import Cache
from app.factory import create_app
from app.services import Services
from app.settings import Settings, parse_time_limits
from tasks.broker import current
from tests.analytics_seed import FORM_ID, seed
from tests.analytics_worker import broker, worker  # noqa: F401 - the shared analytics worker
from tests.conftest import Api, grant, make_settings, make_user_key, seed_user
from tests.helpers import RedisServer, wait_for
from tests.sql.test_query_api import finished
from tests.workers import ANALYTICS_FAST, fresh_settings, running_worker

URL = f"/api/v1/forms/{FORM_ID}/analytics"
VOLATILE = {"as_of", "cached"}  # when it was computed and whether from the cache: everything else must agree


@pytest.fixture
def inline_max_rows() -> int:
    return 3


@pytest.fixture
def lock_wait() -> float:
    return 30.0


@pytest.fixture
def queue_wait() -> float:
    return 0.0  # answer 202 at once, so the tests see the task; the default's wait is tested on its own below


@pytest.fixture
def max_pending() -> tuple[int, int]:
    return 8, 4  # all forms, one form


@pytest.fixture
def dead_cache() -> bool:
    return False


@pytest.fixture
def cache_redis_url(dead_cache: bool, tmp_path: Path) -> str:
    """The default (database 1 of the broker's Redis), or with ``dead_cache`` a Redis that is gone: the
    broker works, every cache call fails."""
    if not dead_cache:
        return ""
    gone = RedisServer(tmp_path / "cache-redis").start()
    gone.stop()
    return gone.url


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer, inline_max_rows: int, lock_wait: float,
             queue_wait: float, max_pending: tuple[int, int], cache_redis_url: str) -> Settings:
    return fresh_settings(tmp_path, redis_server, analytics_inline_max_rows=inline_max_rows,
                          analytics_lock_wait=lock_wait, analytics_queue_wait=queue_wait,
                          analytics_max_pending=max_pending[0], analytics_max_pending_per_form=max_pending[1],
                          cache_redis_url=cache_redis_url, **ANALYTICS_FAST)


@pytest.fixture
def seeded(svc: Services) -> dict[str, Any]:
    return seed(svc.store, svc.settings.export_dir)


@pytest.fixture
def held(settings: Settings) -> Iterator[Hold]:
    """The host's analytics lock, held by the test (a second descriptor, as another worker would)."""
    hold = HeavyGate(lock_path(settings.data_dir), 1.0).acquire()
    yield hold
    hold.release()


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert {k: v for k, v in a.items() if k not in VOLATILE} == {k: v for k, v in b.items() if k not in VOLATILE}


def _inline(svc: Services, kind: str, args: dict[str, str]) -> dict[str, Any]:
    """What the inline path gives the admin with the limit lifted (the cache emptied first, so it computes)."""
    svc.cache._client.flushdb()  # type: ignore[union-attr]
    lifted = replace(svc.settings, analytics_inline_max_rows=1_000_000)
    service = AnalyticsService.from_settings(svc.store, svc.cache, lifted, svc.cursors, svc.dispatch)
    form = svc.forms.get(FORM_ID)
    result = service.summary(form, args, frozenset())[0] if kind == "summary" else service.timeseries(form, args)
    assert isinstance(result, dict) and result["cached"] is False
    return result


def _accepted(resp: Any) -> str:
    assert resp.status_code == 202, resp.get_data(as_text=True)
    body = resp.json
    assert body["status_url"] == f"/api/v1/tasks/{body['task_id']}" == resp.headers["Location"]
    assert body["form_id"] == FORM_ID and int(resp.headers["Retry-After"]) == body["retry_after"] > 0
    return body["task_id"]


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize(("path", "args"), [
    ("", {"split_by": "topic", "filter[status]": "submitted,approved"}),
    ("/timeseries", {"interval": "week", "tz": "Europe/Berlin"}),
])
def test_a_big_form_is_computed_by_the_worker_and_then_served_from_the_cache(
        api: Api, svc: Services, seeded: dict[str, Any], path: str, args: dict[str, str]) -> None:
    task_id = _accepted(api.get(URL + path, query_string=args))
    task = finished(api, task_id)
    assert task["state"] == "succeeded" and task["queue"] == "analytics" and task["actor"] == ACTOR, task
    assert task["result"]["form_id"] == FORM_ID and "fields" not in task["result"]  # the figures stay in the cache
    after = api.get(URL + path, query_string=args)
    assert after.status_code == 200 and after.json["cached"] is True
    assert after.json["as_of"] == task["result"]["as_of"]  # the very entry the task wrote
    kind = "timeseries" if path else "summary"
    _same(after.json, _inline(svc, kind, args))


@pytest.mark.usefixtures("broker")
def test_requests_for_one_result_share_one_task(api: Api, svc: Services, seeded: dict[str, Any]) -> None:
    first = _accepted(api.get(URL, query_string={"split_by": "topic"}))  # no worker yet: it stays queued
    assert _accepted(api.get(URL, query_string={"split_by": "topic"})) == first
    assert _accepted(api.get(URL, query_string={"split_by": "topic", "format": "csv"})) == first  # same figures
    other = _accepted(api.get(URL))
    assert other != first
    tasks = [t for t in svc.store.list_tasks(None, None, None, 100) if t["actor"] == ACTOR]
    assert sorted(t["id"] for t in tasks) == sorted([first, other])
    with running_worker(current(), queues={"analytics"}, threads=1, stop_timeout_ms=10_000):
        assert finished(api, first)["state"] == "succeeded" and finished(api, other)["state"] == "succeeded"
    assert api.get(URL, query_string={"split_by": "topic"}).json["cached"] is True
    created = api.post(f"/api/v1/forms/{FORM_ID}/submissions", {"answers": {"topic": "bug"}})
    assert created.status_code == 201
    again = api.get(URL, query_string={"split_by": "topic"})  # new data: the old result, stale, and a new task
    assert again.status_code == 200 and again.json["stale"] is True
    tasks = [t["id"] for t in svc.store.list_tasks(None, None, None, 100) if t["actor"] == ACTOR]
    assert len(tasks) == 3 and set(tasks) - {first, other}  # the finished task let go of its claim


def _summary_tasks(svc: Services) -> list[dict[str, Any]]:
    return [t for t in svc.store.list_tasks(None, None, None, 100) if t["actor"] == ACTOR]


@pytest.mark.usefixtures("broker")
def test_a_form_busier_than_its_task_serves_the_latest_result_stale_while_one_task_catches_up(
        api: Api, svc: Services, seeded: dict[str, Any]) -> None:
    """Every submission moves the data version: without the latest entry each GET would claim a task of its
    own and answer 202 forever; with it each answers 200 ``stale`` and one task at a time computes."""
    first = _accepted(api.get(URL))
    with running_worker(current(), queues={"analytics"}, threads=1, stop_timeout_ms=10_000):
        assert finished(api, first)["state"] == "succeeded"
    done = api.get(URL)
    assert done.status_code == 200 and done.json["stale"] is False and done.json["total"] == 6
    for _ in range(3):  # submissions faster than the (stopped) worker: each GET sees a new data version
        assert api.post(f"/api/v1/forms/{FORM_ID}/submissions", {"answers": {"topic": "bug"}}).status_code == 201
        stale = api.get(URL)
        assert stale.status_code == 200, stale.get_data(as_text=True)
        assert stale.json["stale"] is True and stale.json["as_of"] == done.json["as_of"] and stale.json["total"] == 6
    waiting = [t for t in _summary_tasks(svc) if t["id"] != first]
    assert [t["state"] for t in waiting] == ["queued"]  # one task for the newest data, not one per GET
    with running_worker(current(), queues={"analytics"}, threads=1, stop_timeout_ms=10_000):
        assert finished(api, waiting[0]["id"])["state"] == "succeeded"
    fresh = api.get(URL)  # the task read the data version after the last submission: this GET's own data
    assert fresh.status_code == 200 and fresh.json["stale"] is False and fresh.json["total"] == 9
    assert len(_summary_tasks(svc)) == 2


def _lock_fds(path: Path) -> int:
    """Descriptors of this process open on the lock file: the test's and every request's waiting for it."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd) == str(path)
        except OSError:
            continue
    return count


@pytest.mark.parametrize("inline_max_rows", [1_000])
def test_the_lock_lets_one_inline_computation_run_at_a_time(
        app: Flask, api: Api, svc: Services, seeded: dict[str, Any], held: Hold,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.analytics")
    answers: dict[str, Any] = {}

    def ask(name: str, args: dict[str, str]) -> None:
        answers[name] = Api(app.test_client(), api.token).get(URL, query_string=args)

    threads = [threading.Thread(target=ask, args=(n, a)) for n, a in
               (("split", {"split_by": "topic"}), ("plain", {"filter[status]": "submitted"}))]
    for t in threads:
        t.start()
    path = lock_path(svc.settings.data_dir)
    wait_for(lambda: _lock_fds(path) == 3, what="both requests to wait on the lock the test holds")
    released = time.time()
    held.release()
    for t in threads:
        t.join(timeout=60)
    assert {n: r.status_code for n, r in answers.items()} == {"split": 200, "plain": 200}
    marks = [(r.created, r.getMessage()) for r in caplog.records if r.name == "app.analytics"]
    taken = [at for at, msg in marks if msg == "analytics lock taken"]
    done = [at for at, msg in marks if msg == "analytics computed inline"]
    assert len(taken) == len(done) == 2, marks
    (a_in, b_in), (a_out, b_out) = sorted(taken), sorted(done)
    assert released <= a_in <= a_out <= b_in <= b_out  # the second began only after the first had finished


@pytest.mark.parametrize(("inline_max_rows", "lock_wait"), [(1_000, 0.3)])
def test_a_parquet_export_waits_a_bounded_time_then_answers_503_and_csv_needs_no_lock(
        api: Api, svc: Services, seeded: dict[str, Any], held: Hold) -> None:
    export = f"/api/v1/forms/{FORM_ID}/export"
    started = time.monotonic()
    busy = api.get(export, query_string={"format": "parquet"})
    waited = time.monotonic() - started
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5", busy.get_data(as_text=True)
    err = busy.json["error"]
    assert err["code"] == "analytics_busy" and set(err) == {"code", "message", "details", "request_id"}
    assert 0.3 <= waited < 5.0  # it did wait, and not for long
    for fmt in ("csv", "jsonl"):  # one page in memory at a time: they stream while the lock is held elsewhere
        flat = api.get(export, query_string={"format": fmt})
        assert flat.status_code == 200 and len(flat.get_data(as_text=True).splitlines()) == (7 if fmt == "csv" else 6)
    held.release()
    ok = api.get(export, query_string={"format": "parquet"})
    assert ok.status_code == 200 and pq.read_table(io.BytesIO(ok.get_data())).num_rows == 6
    assert api.get(export, query_string={"format": "parquet"}).status_code == 200  # let go


@pytest.mark.parametrize(("inline_max_rows", "lock_wait"), [(1_000, 0.3)])
def test_a_client_that_reads_nothing_of_a_parquet_export_holds_no_lock(
        api: Api, svc: Services, seeded: dict[str, Any]) -> None:
    """The file is produced under the lock, then sent without it: a slow download blocks no other export."""
    export = f"/api/v1/forms/{FORM_ID}/export"
    slow = api.get(export, query_string={"format": "parquet"}, buffered=False)  # its body not read yet
    try:
        assert slow.status_code == 200
        hold = HeavyGate(lock_path(svc.settings.data_dir), 0.0).try_acquire()  # the real flock, free
        assert hold is not None
        hold.release()
        assert int(slow.headers["Content-Length"]) > 0  # written whole before the first byte went
        other = api.get(export, query_string={"format": "parquet"})
        assert other.status_code == 200, other.get_data(as_text=True)
        assert api.get(URL).status_code == 200  # an inline summary takes the lock too
        assert list((svc.settings.data_dir / "downloads").iterdir()) == []  # unlinked while still open
        body = b"".join(slow.response)
    finally:
        slow.close()
    assert pq.read_table(io.BytesIO(body)).num_rows == pq.read_table(io.BytesIO(other.get_data())).num_rows == 6


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize(("inline_max_rows", "lock_wait"), [(1_000, 0.3)])
def test_a_small_summary_whose_wait_runs_out_goes_to_the_queue(
        api: Api, svc: Services, seeded: dict[str, Any], held: Hold) -> None:
    task_id = _accepted(api.get(URL))  # under the limit, but the lock stayed busy past the wait
    assert finished(api, task_id)["state"] == "succeeded"  # the worker does not take the API's lock
    after = api.get(URL)
    assert after.status_code == 200 and after.json["cached"] is True
    held.release()
    _same(after.json, _inline(svc, "summary", {}))


def test_the_openapi_operation_documents_the_202_and_the_503(api: Api) -> None:
    paths = api.get("/openapi.json").json["paths"]
    for path in ("/api/v1/forms/{form_id}/analytics", "/api/v1/forms/{form_id}/analytics/timeseries"):
        responses = paths[path]["get"]["responses"]
        assert {"200", "202", "503"} <= set(responses) and "stale" in responses["202"]["description"]
        accepted = responses["202"]["content"]["application/json"]
        assert set(accepted["example"]) == {"form_id", "retry_after", "task_id", "status_url"}
        assert accepted["schema"]["required"] == ["form_id", "retry_after"]  # the task only for who may see it
        busy = responses["503"]["content"]["application/json"]["example"]["error"]
        assert busy["code"] == "analytics_busy" and busy["details"][0]["reason"] == "too_many_pending"
        assert "Retry-After" in responses["503"]["headers"]
    export = paths["/api/v1/forms/{form_id}/export"]["get"]["responses"]
    assert export["503"]["content"]["application/json"]["example"]["error"]["code"] == "analytics_busy"


@pytest.mark.usefixtures("broker")
def test_a_caller_sharing_someone_elses_task_gets_no_link_that_would_404_for_them(
        api: Api, app: Flask, svc: Services, seeded: dict[str, Any]) -> None:
    """The time series' key holds no hidden fields, so a viewer asking for the admin's result shares its task."""
    vera = Api(app.test_client(), make_user_key(svc, "vera", "viewer", "read"))
    grant(api, svc, FORM_ID, "vera", "viewer")
    args = {"interval": "week"}
    task_id = _accepted(api.get(URL + "/timeseries", query_string=args))  # the admin's task, with its link
    shared = vera.get(URL + "/timeseries", query_string=args)
    assert shared.status_code == 202 and shared.json == {"form_id": FORM_ID, "retry_after": 5}, shared.json
    assert "Location" not in shared.headers and shared.headers["Retry-After"] == "5"
    assert vera.get(f"/api/v1/tasks/{task_id}").status_code == 404  # what the link would have given her
    assert [t["id"] for t in _summary_tasks(svc)] == [task_id]  # one task for both
    with running_worker(current(), queues={"analytics"}, threads=1, stop_timeout_ms=10_000):
        assert finished(api, task_id)["state"] == "succeeded"
    done = vera.get(URL + "/timeseries", query_string=args)
    assert done.status_code == 200 and done.json["cached"] is True


def test_without_redis_nothing_can_be_queued_so_it_computes_under_the_lock_or_answers_503(
        tmp_path: Path, password_hash: str) -> None:
    """No claim and no cache entry are possible without Redis: a 202 would never turn into a 200."""
    redis = RedisServer(tmp_path / "redis").start()
    app = create_app(make_settings(tmp_path, redis.url, analytics_inline_max_rows=3, analytics_lock_wait=0.3))
    svc: Services = app.extensions["fms"]
    user = seed_user(svc, "root", "admin", password_hash)
    key, _ = svc.auth.create_api_key(user["id"], "manage", None, "test", actor="test")
    seed(svc.store, svc.settings.export_dir)
    api = Api(app.test_client(), key)
    redis.stop()
    big = api.get(URL)  # 7 rows > 3, but nowhere to queue: inline, as before the limit existed
    assert big.status_code == 200 and big.json["cached"] is False and big.json["total"] == 6
    hold = HeavyGate(lock_path(svc.settings.data_dir), 1.0).acquire()
    try:
        busy = api.get(URL)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "5", busy.get_data(as_text=True)
        assert busy.json["error"]["code"] == "analytics_busy"
    finally:
        hold.release()
    assert api.get(URL).status_code == 200


DEFAULTS = Settings.from_env(environ={}, dotenv=None, env="test", secret_key="x")


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize(("inline_max_rows", "queue_wait"), [(DEFAULTS.analytics_inline_max_rows, 30.0)])
def test_by_default_the_api_computes_nothing_and_waits_for_the_workers_result(
        api: Api, svc: Services, seeded: dict[str, Any]) -> None:
    """The shipped default: every summary on the queue (the api unit never loads DuckDB), and a request
    waits (a deadline, polled) for the worker's result, so a small form still gets a plain 200."""
    assert DEFAULTS.analytics_inline_max_rows == 0 and DEFAULTS.analytics_queue_wait > 0
    first = api.get(URL, query_string={"split_by": "topic"})
    assert first.status_code == 200 and first.json["cached"] is False, first.get_data(as_text=True)
    tasks = _summary_tasks(svc)  # computed by the worker, not here (which records its end just after)
    assert len(tasks) == 1 and finished(api, tasks[0]["id"])["state"] == "succeeded"
    again = api.get(URL, query_string={"split_by": "topic"})
    assert again.status_code == 200 and again.json["cached"] is True
    _same(first.json, _inline(svc, "summary", {"split_by": "topic"}))


@pytest.mark.usefixtures("broker")
@pytest.mark.parametrize(("inline_max_rows", "queue_wait"), [(0, 0.3)])
def test_a_result_the_worker_has_not_cached_within_the_wait_is_a_202(api: Api, seeded: dict[str, Any]) -> None:
    _accepted(api.get(URL))  # no worker: nothing reaches the cache within 0.3 s


@pytest.mark.usefixtures("broker")
@pytest.mark.parametrize(("max_pending", "scope"), [((8, 2), "form"), ((2, 8), "host")])
def test_tasks_in_flight_are_bounded_and_past_the_bound_a_new_summary_is_a_503(
        api: Api, svc: Services, seeded: dict[str, Any], max_pending: tuple[int, int], scope: str) -> None:
    """A new ``created_after`` per request would queue a full scan each; two may be in flight here."""
    claims = Claims(svc.cache, *max_pending)
    ids = [_accepted(api.get(URL, query_string={"created_after": f"2020-01-0{d}T00:00:00Z"})) for d in (1, 2)]
    busy = api.get(URL, query_string={"created_after": "2020-01-03T00:00:00Z"})
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5", busy.get_data(as_text=True)
    err = busy.json["error"]
    assert err["code"] == "analytics_busy" and set(err) == {"code", "message", "details", "request_id"}
    assert err["details"] == [{"reason": "too_many_pending", "scope": scope, "limit": 2, "retry_after": 5}]
    assert sorted(t["id"] for t in _summary_tasks(svc)) == sorted(ids)  # nothing queued for the 503
    assert _accepted(api.get(URL, query_string={"created_after": "2020-01-01T00:00:00Z"})) == ids[0]  # shared
    assert claims.in_flight(FORM_ID) == claims.in_flight() == 2
    with running_worker(current(), queues={"analytics"}, threads=1, stop_timeout_ms=10_000):
        assert all(finished(api, i)["state"] == "succeeded" for i in ids)
    assert claims.in_flight(FORM_ID) == claims.in_flight() == 0  # each task let go of its place
    assert api.get(URL, query_string={"created_after": "2020-01-03T00:00:00Z"}).status_code == 202


@pytest.mark.usefixtures("broker")
def test_a_task_whose_claim_outlived_its_ttl_leaves_the_next_owners_claim_alone(
        api: Api, svc: Services, seeded: dict[str, Any]) -> None:
    first = _accepted(api.get(URL))
    client = svc.cache._client
    assert client is not None
    (claim_key,) = client.keys(Cache.key(claims.NAMESPACE, "*"))
    assert client.get(claim_key) == first.encode()
    client.delete(claim_key)  # what CLAIM_TTL_S does to the claim of a task that has not ended yet
    base = claim_key.decode().removeprefix(Cache.key(claims.NAMESPACE, ""))
    later = Claims(svc.cache, 8, 4).claim(FORM_ID, base, "01LATERREQUESTSTASK0000000")  # another request's
    assert later is not None and later.state == "claimed"
    with running_worker(current(), queues={"analytics"}, threads=1, stop_timeout_ms=10_000):
        assert finished(api, first)["state"] == "succeeded"
    assert client.get(claim_key) == b"01LATERREQUESTSTASK0000000"  # the first task dropped only its own
    assert Claims(svc.cache, 8, 4).in_flight(FORM_ID) == 1  # its place in the counts went, the other's stayed


@pytest.mark.usefixtures("broker")
def test_a_claim_outlives_its_tasks_time_limit_so_a_long_summary_is_not_started_twice(
        api: Api, svc: Services, settings: Settings, seeded: dict[str, Any]) -> None:
    """A claim that expired while its task may still run would let the next request queue the same scan
    again: its TTL is the analytics queue's time limit plus a margin, here and with the shipped default."""
    limit_s = parse_time_limits(settings.task_time_limits)["analytics"] // 1000
    task_id = _accepted(api.get(URL))
    client = svc.cache._client
    assert client is not None
    (claim_key,) = client.keys(Cache.key(claims.NAMESPACE, "*"))
    assert limit_s < client.ttl(claim_key) <= limit_s + claims.CLAIM_MARGIN_S
    expires = client.zscore(Cache.key(claims.COUNT_NAMESPACE, "all"), task_id)
    now = client.time()[0]
    assert expires is not None and limit_s < expires - now <= limit_s + claims.CLAIM_MARGIN_S
    shipped = parse_time_limits(DEFAULTS.task_time_limits)["analytics"] // 1000
    assert claims.claim_ttl(DEFAULTS) == shipped + claims.CLAIM_MARGIN_S > claims.CLAIM_TTL_S


@pytest.mark.usefixtures("broker")
@pytest.mark.parametrize("dead_cache", [True])
def test_a_task_that_cannot_cache_its_result_fails_rather_than_succeed(api: Api, svc: Services,
                                                                      seeded: dict[str, Any]) -> None:
    """The API's GET reads the result from the cache only: a task that could not write it there must say so."""
    task_id = svc.dispatch.enqueue_tracked(ACTOR, ("summary", FORM_ID, {}, [], f"{FORM_ID}:gone"),
                                           created_by=None, form_id=FORM_ID)
    with running_worker(current(), queues={"analytics"}, threads=1, stop_timeout_ms=10_000):
        task = finished(api, task_id)
    assert task["state"] == "dead" and "could not be cached" in task["error"]["message"], task
    assert task["attempts"] == 2, task  # retried once: a Redis hiccup may pass
