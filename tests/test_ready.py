"""``/ready`` is public (load balancers and probes call it without credentials), so what it says to them is
limited to booleans, state enums and the queue depth; the AI worker's host:pid, the model file, its sha256 and
raw load errors are for an authenticated administrator only.

The engine report is written with :func:`app.ai.capacity.publish_engine_state` into the real Redis, exactly as
the AI worker writes it (``tasks.ai.engine_report``'s shape), so the test needs no model: it is about what the
API shows of a report, not about producing one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.ai import capacity
from app.services import Services
from tests.conftest import Api, make_user_key

SHA = "c2b6" * 16
WORKER = "ai-host-7:31337"
ERROR = "ValueError: /var/lib/fms/models/secret-model.gguf: bad magic 0xdeadbeef"


def _publish(svc: Services, state: str) -> None:
    engine = {"state": state, "model": "secret-model.gguf", "model_sha256": SHA, "load_ms": 812.4,
              "loaded_at": "2026-03-01T08:00:00Z", "error": ERROR if state == "failed" else None}
    report = {"worker": WORKER, "process": "worker-ai", "at": 0, "jobs": 3, "job_s": 1.2,
              "engines": {"llama": engine}}
    capacity.publish_engine_state(svc.cache, report, ttl=60)


def _leaks(body: dict[str, Any]) -> list[str]:
    text = json.dumps(body)
    return [s for s in (SHA, WORKER, "ai-host-7", "31337", "secret-model", "bad magic") if s in text]


@pytest.mark.parametrize("state", ["loaded", "failed"])
def test_anonymous_ready_says_loaded_and_state_but_no_host_pid_model_sha256_or_error(
        client: Any, svc: Services, state: str) -> None:
    _publish(svc, state)
    for headers in ({}, {"Authorization": "Bearer not-a-real-key"}):  # a bad credential is anonymous, not a 401
        resp = client.get("/ready", headers=headers)
        assert resp.status_code == 200, resp.json
        model = resp.json["checks"]["model"]
        assert model["loaded"] is (state == "loaded") and model["state"] == state
        assert model["ok"] is False or state == "loaded"
        assert "depth" in resp.json["checks"]["ai_queue"] and "engine" not in model
        assert _leaks(resp.json) == [], resp.json


def test_a_non_admin_key_sees_no_more_than_anonymous(client: Any, svc: Services, admin_token: str) -> None:
    _publish(svc, "failed")
    key = make_user_key(svc, "ed", "editor", "manage")
    resp = client.get("/ready", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200 and _leaks(resp.json) == [], resp.json


def test_an_admin_sees_the_engine_details(api: Api, svc: Services) -> None:
    _publish(svc, "failed")
    model = api.get("/ready").json["checks"]["model"]
    assert model["state"] == "failed" and model["ok"] is False
    assert model["engine"] == {"state": "failed", "model": "secret-model.gguf", "model_sha256": SHA,
                               "load_ms": 812.4, "loaded_at": "2026-03-01T08:00:00Z", "error": ERROR,
                               "worker": WORKER}


def _shape(value: Any) -> Any:
    """Keys all the way down (values differ between the example and a live answer, the keys must not)."""
    return {k: _shape(v) for k, v in value.items()} if isinstance(value, dict) else None


def test_the_openapi_example_is_a_real_admin_answer(api: Api, svc: Services) -> None:
    """Every check /ready runs, and every key of each, as an administrator sees them (anonymous: a subset)."""
    _publish(svc, "loaded")
    op = api.get("/openapi.json").json["paths"]["/ready"]["get"]
    example = op["responses"]["200"]["content"]["application/json"]["example"]
    live = api.get("/ready").json
    assert _shape(live) == _shape(example)
    assert set(example["checks"]) >= {"store", "redis", "workers", "model", "embedder", "ai_queue"}
