"""Bounded inference against the real worker and Gemma: the queue bound, the queue-wait limit,
the AI worker's engine state in ``/ready`` and the ``fms_ai_*`` histograms on ``/metrics``."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.ai import capacity
from app.settings import Settings
from tests.ai.conftest import ai_settings, wait_task
from tests.ai.test_ai_api import INCIDENT_SCHEMA, NARRATIVE
from tests.conftest import Api
from tests.helpers import RedisServer, wait_for
from tests.workers import running_worker

SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "name": {"type": "string"}, "email": {"type": "string", "format": "email"},
    "topic": {"enum": ["billing", "delivery", "other"]}}}
TEXT = "I'm Dana Reyes (dana@example.org). My parcel 4471 never arrived, please look into the delivery."
BOUND = 2
FILL_SCHEMA: dict[str, Any] = {**INCIDENT_SCHEMA, "properties": {**INCIDENT_SCHEMA["properties"], "stolen_item": {
    "type": "string", "title": "Stolen item", "description": "What was stolen"}}}


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer,
             model_paths: dict[str, Path]) -> Settings:
    """The AI settings with a small queue bound; ``indirect`` parameters override more."""
    redis_server.client(0).flushall()
    extra = {"ai_queue_max": BOUND, **getattr(request, "param", {})}
    return ai_settings(tmp_path, redis_server.url, model_paths, **extra)


def _form(api: Api, schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    resp = api.post("/api/v1/forms", {"title": "Parcels", "schema": schema})
    assert resp.status_code == 201, resp.json
    return resp.json  # type: ignore[no-any-return]


def _written(svc: Any) -> tuple[int, int]:
    """Task records and unsent outbox rows: what a refused call must not add to."""
    return len(svc.store.list_tasks(None, None, None, 1000)), len(svc.store.pending_events(1000))


def _samples(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` as Prometheus parses it: {(sample name, sorted labels): value}."""
    resp = api.get("/metrics")
    assert resp.status_code == 200
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _total(samples: dict[Any, float], name: str, **labels: str) -> float:
    """Sum of ``name`` over the series whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))


def test_retry_after_follows_depth_and_job_time_within_bounds() -> None:
    assert capacity.retry_after_s(32, 32, 2.0) == 2  # one job must finish for a slot to free
    assert capacity.retry_after_s(40, 32, 1.5) == math.ceil(9 * 1.5)
    assert capacity.retry_after_s(32, 32, None) == math.ceil(capacity.DEFAULT_JOB_S)
    assert capacity.retry_after_s(32, 32, 0.01) == capacity.RETRY_AFTER_MIN
    assert capacity.retry_after_s(10_000, 32, 5.0) == capacity.RETRY_AFTER_MAX


def test_full_ai_queue_answers_503_with_retry_after_and_writes_nothing(api: Api, svc: Any, broker: Any) -> None:
    """No worker consumes, so the queue fills deterministically: BOUND calls in, the next ones out."""
    form = _form(api)
    sub = api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": {"name": "Dana", "topic": "delivery"}})
    assert sub.status_code == 201, sub.json
    for _ in range(BOUND):
        assert api.post(f"/api/v1/forms/{form['id']}/fill", {"text": TEXT}).status_code == 202
    assert svc.dispatch.queue_depth("ai") == BOUND
    before = _written(svc)
    refused = [api.post(f"/api/v1/forms/{form['id']}/fill", {"text": TEXT}),
               api.post(f"/api/v1/submissions/{sub.json['id']}/summarize"),
               api.post(f"/api/v1/forms/{form['id']}/summarize", {})]
    for resp in refused:
        assert resp.status_code == 503, resp.json
        err = resp.json["error"]
        assert err["code"] == "ai_queue_full" and err["request_id"]
        assert err["details"][0]["depth"] == BOUND and err["details"][0]["max"] == BOUND
        retry_after = int(resp.headers["Retry-After"])
        assert capacity.RETRY_AFTER_MIN <= retry_after <= capacity.RETRY_AFTER_MAX
        assert err["details"][0]["retry_after"] == retry_after
    assert _written(svc) == before  # no task record, no outbox row
    assert svc.dispatch.queue_depth("ai") == BOUND
    ready = api.get("/ready").json["checks"]["ai_queue"]
    assert ready["depth"] == BOUND and ready["max"] == BOUND and ready["ok"] is False


@pytest.mark.parametrize("settings", [{"ai_max_queue_wait": 0.5}], indirect=True)
def test_a_job_older_than_the_wait_limit_fails_unrun(api: Api, svc: Any, broker: Any) -> None:
    import tasks.ai
    from tasks import metrics

    form = _form(api)
    resp = api.post(f"/api/v1/forms/{form['id']}/fill", {"text": TEXT})
    assert resp.status_code == 202, resp.json
    task_id = resp.json["task_id"]
    enqueued_ms = svc.store.get_task(task_id)["message"]["options"]["enqueued_ms"]
    # The behaviour under test is age: let the queued message grow older than the limit.
    wait_for(lambda: time.time() - enqueued_ms / 1000 > 0.6, 5, what="the message to outgrow the limit")
    engine = tasks.ai._engines.get("llama")
    calls_before = engine._next_id if engine is not None else None
    runs_before = metrics.AI_INFERENCE.labels("fill", Path(svc.settings.llm_model).name)._sum.get()
    with running_worker(broker, threads=1, stop_timeout_ms=10_000, queues={"ai"}):
        task = wait_task(api, task_id, timeout=60)
    assert task["state"] == "failed", task
    assert task["error"]["code"] == "queue_wait_exceeded" and not task["error"]["retryable"]
    assert "FMS_AI_MAX_QUEUE_WAIT" in task["error"]["message"]
    assert task["attempts"] == 1 and task["result"] is None
    # The model was not called: no engine call, no inference observed, no draft written.
    engine_after = tasks.ai._engines.get("llama")
    if calls_before is None:
        assert engine_after is None
    else:
        assert engine_after is engine and engine._next_id == calls_before
    assert metrics.AI_INFERENCE.labels("fill", Path(svc.settings.llm_model).name)._sum.get() == runs_before
    listed = api.get(f"/api/v1/forms/{form['id']}/submissions?filter[status]=draft").json
    assert listed["items"] == []
    exceeded = _total(_samples(api), "fms_ai_queue_wait_exceeded_total", kind="fill")
    assert exceeded >= 1


def test_after_a_fill_ready_shows_the_loaded_model_and_metrics_show_the_histograms(
        api: Api, svc: Any, worker: Any) -> None:
    model = Path(svc.settings.llm_model).name
    before = _samples(api)
    form = _form(api, FILL_SCHEMA)  # the model has to decide the kind and name the stolen item
    resp = api.post(f"/api/v1/forms/{form['id']}/fill", {"text": NARRATIVE})
    assert resp.status_code == 202, resp.json
    task = wait_task(api, resp.json["task_id"])
    assert task["state"] == "succeeded", task
    job = task["result"]["metrics"]

    def loaded() -> dict[str, Any] | None:
        checks = api.get("/ready").json["checks"]
        return checks if checks["model"]["loaded"] and checks["ai_queue"]["depth"] == 0 else None

    checks = wait_for(loaded, 30, interval=0.1, what="/ready to report the model loaded and the queue empty")
    m = checks["model"]
    assert m["ok"] is True and m["state"] == "loaded" and "loaded:" in m["means"]
    assert m["engine"]["model"] == model and len(m["engine"]["model_sha256"]) == 64
    assert m["engine"]["model_sha256"] == task["result"]["model_sha256"]
    assert m["engine"]["load_ms"] > 0 and m["engine"]["worker"]
    assert checks["ai_queue"] == {**checks["ai_queue"], "ok": True, "depth": 0, "max": BOUND}

    after = _samples(api)
    labels = {"kind": "fill", "model": model}
    # A rate is observed only for a job that had such tokens; this fill generates the stolen item.
    assert job["gen_tokens_per_s"] and job["prompt_tokens_per_s"], task["result"]
    for name in ("fms_ai_inference_seconds", "fms_ai_prompt_tokens_per_second",
                 "fms_ai_generation_tokens_per_second", "fms_ai_llm_calls"):
        grew = _total(after, f"{name}_count", **labels) - _total(before, f"{name}_count", **labels)
        assert grew == 1, (name, repr(job))
    rate = _total(after, "fms_ai_generation_tokens_per_second_sum", **labels) - _total(
        before, "fms_ai_generation_tokens_per_second_sum", **labels)
    assert rate == pytest.approx(job["gen_tokens_per_s"], abs=0.1)
    grew_s = _total(after, "fms_ai_inference_seconds_sum", **labels) - _total(
        before, "fms_ai_inference_seconds_sum", **labels)
    assert grew_s == pytest.approx(job["total_ms"] / 1000, rel=1e-6, abs=1e-3)
    calls = _total(after, "fms_ai_llm_calls_sum", **labels) - _total(before, "fms_ai_llm_calls_sum", **labels)
    assert calls == job["llm_calls"] and calls >= 1
    assert _total(after, "fms_ai_queue_wait_seconds_count", kind="fill") - _total(
        before, "fms_ai_queue_wait_seconds_count", kind="fill") == 1
    # The model loads once per worker process and is kept: this test or an earlier one paid it.
    assert _total(after, "fms_ai_model_load_seconds_count", engine="llama", model=model) >= 1

