"""AI through the API with the real models and a real worker: fill, embed/duplicates/similar, 503s, auth."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from app.settings import Settings
from tests.ai.conftest import ai_settings, wait_task
from tests.conftest import Api
from tests.helpers import RedisServer, wait_for

INCIDENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["reporter", "email", "incident_type"],
    "properties": {
        "reporter": {"type": "string", "maxLength": 80},
        "email": {"type": "string", "format": "email"},
        "incident_type": {"enum": ["theft", "assault", "vandalism", "fraud", "other"]},
        "date": {"type": "string", "format": "date"},
        "injured": {"type": "boolean"},
        "people_involved": {"type": "integer", "minimum": 0, "maximum": 100},
    },
}
NARRATIVE = ("My name is Maria Lopez and you can reach me at maria.lopez@example.org. On 2024-03-14 someone "
             "smashed the window of my car and stole my laptop from the back seat. Nobody was injured.")


def _form(api: Api, schema: dict[str, Any], **settings: Any) -> dict[str, Any]:
    resp = api.post("/api/v1/forms", {"title": "AI form", "schema": schema, "settings": settings})
    assert resp.status_code == 201, resp.json
    return resp.json  # type: ignore[no-any-return]


def test_fill_end_to_end_creates_a_valid_draft_a_person_completes(api: Api, svc: Any, worker: Any) -> None:
    form = _form(api, INCIDENT_SCHEMA)
    t0 = time.perf_counter()
    resp = api.post(f"/api/v1/forms/{form['id']}/fill", {"text": NARRATIVE})
    assert resp.status_code == 202, resp.json
    task_id = resp.json["task_id"]
    assert resp.headers["Location"] == f"/api/v1/tasks/{task_id}"
    task = wait_task(api, task_id)
    latency = time.perf_counter() - t0
    assert task["state"] == "succeeded", task
    result = task["result"]
    metrics = result["metrics"]
    print(f"\nfill through the API: {latency:.2f} s, metrics {metrics}")
    for key in ("queue_wait_ms", "load_ms", "ttft_ms", "gen_tokens_per_s", "prompt_tokens_per_s"):
        assert key in metrics
    assert task["progress"] == 100.0

    sub = api.get(f"/api/v1/submissions/{result['submission_id']}")
    assert sub.status_code == 200 and sub.json["status"] == "draft"
    answers = sub.json["answers"]
    validator = Draft202012Validator(INCIDENT_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    partial = {**INCIDENT_SCHEMA, "required": []}  # a draft may leave required fields to the person
    assert not list(Draft202012Validator(partial, format_checker=Draft202012Validator.FORMAT_CHECKER)
                    .iter_errors(answers))
    assert answers.get("email") == "maria.lopez@example.org"

    stored = svc.store.get_submission(result["submission_id"])
    evidence = stored["meta"]["ai"]["evidence"]
    assert stored["meta"]["ai"]["task_id"] == task_id and len(stored["meta"]["ai"]["model_sha256"]) == 64
    span = evidence["email"]
    assert NARRATIVE[span[0]:span[1]] == "maria.lopez@example.org"

    # A person accepts the draft, completing whatever the model left out.
    fixes = {k: v for k, v in {"reporter": "Maria Lopez", "email": "maria.lopez@example.org",
                               "incident_type": "theft"}.items() if k not in answers}
    done = api.patch(f"/api/v1/submissions/{result['submission_id']}", {"status": "submitted", "answers": fixes})
    assert done.status_code == 200, done.json
    assert done.json["status"] == "submitted"
    assert not list(validator.iter_errors(done.json["answers"]))


def test_embed_duplicates_and_similar(api: Api, svc: Any, worker: Any, relay: Any) -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}, "details": {"type": "string"}}}
    form = _form(api, schema, ai={"embed": True})
    other = _form(api, schema)  # embeddings off: its submissions are never embedded
    texts = [
        ("Printer jams", "The printer on the second floor jams every time I print more than two pages."),
        ("Printer jam again", "The second floor printer keeps jamming whenever I print over two pages."),
        ("Password reset", "I forgot my e-mail password and cannot log in to the webmail since Monday."),
    ]
    ids = []
    for title, details in texts:
        resp = api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": {"title": title, "details": details}})
        assert resp.status_code == 201
        ids.append(resp.json["id"])
    api.post(f"/api/v1/forms/{other['id']}/submissions", {"answers": {"title": "x", "details": texts[0][1]}})
    wait_for(lambda: relay.run_once() == 0 and not svc.store.pending_events(10), 10, what="outbox drained")
    wait_for(lambda: len(svc.store.form_embeddings(form["id"])) == 3, 120, interval=0.05, what="3 embeddings")
    assert svc.store.form_embeddings(other["id"]) == []

    dup = api.get(f"/api/v1/forms/{form['id']}/duplicates?threshold=0.8")
    assert dup.status_code == 200, dup.json
    assert dup.json["embedded"] == 3
    assert [g["submission_ids"] for g in dup.json["groups"]] == [sorted(ids[:2])]
    assert dup.json["groups"][0]["max_similarity"] >= 0.8
    strict = api.get(f"/api/v1/forms/{form['id']}/duplicates?threshold=0.999")
    assert strict.json["groups"] == []

    sim = api.get(f"/api/v1/forms/{form['id']}/similar", query_string={"q": "cannot sign in, lost my password", "k": 2})
    assert sim.status_code == 200, sim.json
    assert sim.json["items"][0]["submission_id"] == ids[2]
    assert len(sim.json["items"]) == 2 and sim.json["items"][0]["score"] > sim.json["items"][1]["score"]
    assert api.get(f"/api/v1/forms/{form['id']}/similar").status_code == 400
    # a deleted submission no longer counts
    assert api.delete(f"/api/v1/submissions/{ids[1]}").status_code in (200, 204)
    after = api.get(f"/api/v1/forms/{form['id']}/duplicates?threshold=0.8").json
    assert after["embedded"] == 2 and after["groups"] == []


def test_summarize_a_submission(api: Api, svc: Any, worker: Any) -> None:
    form = _form(api, {"type": "object", "properties": {"details": {"type": "string"}}})
    sub = api.post(f"/api/v1/forms/{form['id']}/submissions",
                   {"answers": {"details": "The heating in room 12 has been broken for three days. It is cold."}})
    resp = api.post(f"/api/v1/submissions/{sub.json['id']}/summarize")
    assert resp.status_code == 202, resp.json
    task = wait_task(api, resp.json["task_id"])
    assert task["state"] == "succeeded", task
    assert task["result"]["summary"].strip()
    assert svc.store.get_submission(sub.json["id"])["meta"]["summary"]["text"] == task["result"]["summary"]

    api.post(f"/api/v1/forms/{form['id']}/submissions",
             {"answers": {"details": "The lift in building B is out of order again since this morning."}})
    whole = api.post(f"/api/v1/forms/{form['id']}/summarize", {"created_after": "2000-01-01T00:00:00Z"})
    assert whole.status_code == 202, whole.json
    task = wait_task(api, whole.json["task_id"])
    assert task["state"] == "succeeded" and task["result"]["submissions"] == 2 and task["result"]["summary"].strip()
    themes = task["result"]["themes"]  # embedding clusters: counts and the submitters' own words
    assert isinstance(themes, list) and sum(t["count"] for t in themes) <= 2, themes
    texts = ("The heating in room 12 has been broken for three days. It is cold.",
             "The lift in building B is out of order again since this morning.")
    assert all(any(text in q for text in texts) for t in themes for q in t["quotes"]), themes  # "field: answer"
    none = api.post(f"/api/v1/forms/{form['id']}/summarize", {"created_before": "2000-01-01T00:00:00Z"})
    assert wait_task(api, none.json["task_id"])["result"]["submissions"] == 0
    assert api.post(f"/api/v1/forms/{form['id']}/summarize", {"created_after": "yesterday"}).status_code == 400


def test_broken_model_path_gives_503_and_the_rest_still_works(tmp_path: Path, redis_server: RedisServer,
                                                               model_paths: dict[str, Path], api: Api) -> None:
    from app.factory import create_app
    from tests.conftest import ADMIN_PASSWORD, hash_once, seed_user

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 60)
    settings: Settings = ai_settings(tmp_path / "b", redis_server.url, model_paths, llm_model=str(broken),
                                     embed_model=str(tmp_path / "missing.onnx"))
    app = create_app(settings)
    svc = app.extensions["fms"]
    user = seed_user(svc, "boss", "admin", hash_once(ADMIN_PASSWORD))
    key, _ = svc.auth.create_api_key(user["id"], "manage", None, "t", actor="t")
    b = Api(app.test_client(), key)
    form = _form(b, INCIDENT_SCHEMA)
    resp = b.post(f"/api/v1/forms/{form['id']}/fill", {"text": NARRATIVE})
    assert resp.status_code == 503 and resp.json["error"]["code"] == "model_unavailable"
    sim = b.get(f"/api/v1/forms/{form['id']}/similar?q=hello")
    assert sim.status_code == 503 and sim.json["error"]["code"] == "model_unavailable"
    assert b.get("/api/v1/forms").status_code == 200
    ready = app.test_client().get("/ready")
    assert ready.status_code == 200 and ready.json["checks"]["model"]["ok"] is False
    assert b.post(f"/api/v1/forms/{form['id']}/submissions",
                  {"answers": {"reporter": "a", "email": "a@example.org", "incident_type": "other"}}).status_code == 201


def test_breaker_flag_from_the_worker_gives_503(api: Api, svc: Any) -> None:
    from app.ai.service import clear_breaker_flag, flag_breaker_open

    form = _form(api, INCIDENT_SCHEMA)
    flag_breaker_open(svc.cache, "llama", "engine keeps crashing", 30)
    try:
        resp = api.post(f"/api/v1/forms/{form['id']}/fill", {"text": NARRATIVE})
        assert resp.status_code == 503 and "circuit open" in resp.json["error"]["message"]
    finally:
        clear_breaker_flag(svc.cache, "llama")
    assert api.get("/api/v1/forms").status_code == 200


def test_every_ai_route_requires_auth(client: Any, form: dict[str, Any]) -> None:
    fid = form["id"]
    for method, path in [("POST", f"/api/v1/forms/{fid}/fill"), ("POST", "/api/v1/submissions/x/summarize"),
                         ("POST", f"/api/v1/forms/{fid}/summarize"),
                         ("GET", f"/api/v1/forms/{fid}/duplicates"), ("GET", f"/api/v1/forms/{fid}/similar?q=a"),
                         ("GET", "/api/v1/models"), ("POST", "/api/v1/models"), ("DELETE", "/api/v1/models/x"),
                         ("POST", "/api/v1/models/x/benchmarks"), ("GET", "/api/v1/benchmarks/x")]:
        resp = client.open(path, method=method, json={})
        assert resp.status_code == 401, (method, path, resp.status_code)


def test_fill_input_is_checked(api: Api, form: dict[str, Any]) -> None:
    assert api.post(f"/api/v1/forms/{form['id']}/fill", {"text": "  "}).status_code == 400
    assert api.post(f"/api/v1/forms/{form['id']}/fill", {"text": "x" * 20_001}).status_code == 400
    assert api.post("/api/v1/forms/nope/fill", {"text": "hello"}).status_code == 404


NARRATIVES = [
    "I am John Smith (john.smith@example.com). Yesterday two men attacked me outside the station; I was injured.",
    "Reporter: Ana Ruiz, ana.ruiz@example.net. On 2024-05-02 someone sprayed graffiti all over our shop front.",
    "This is Lee Wong, lee@example.org. A fake bank caller took 900 euros from my account on 2024-01-20.",
    "Peter Novak here, peter.novak@example.com. My bicycle was stolen from the rack at work on 2024-06-11.",
]


def test_engine_is_loaded_once_and_kept(api: Api, worker: Any) -> None:
    """Later fills pay no load; the latency printed is the warm fill latency through the API."""
    import statistics

    import tasks.ai

    form = _form(api, INCIDENT_SCHEMA)
    latencies, loads, pids = [], [], set()
    for text in NARRATIVES:
        t0 = time.perf_counter()
        task_id = api.post(f"/api/v1/forms/{form['id']}/fill", {"text": text}).json["task_id"]
        task = wait_task(api, task_id)
        latencies.append(time.perf_counter() - t0)
        assert task["state"] == "succeeded", task
        loads.append(task["result"]["metrics"]["load_ms"])
        pids.add(tasks.ai._engines["llama"].pid)
    assert loads[1:] == [0.0] * (len(NARRATIVES) - 1)
    assert len(pids) == 1
    print(f"\nwarm fill through the API: p50 {statistics.median(latencies[1:]):.2f} s, "
          f"max {max(latencies[1:]):.2f} s, first {latencies[0]:.2f} s (n={len(latencies)})")


def test_fill_and_summarize_while_redis_is_down_are_accepted_and_run_when_it_is_back(
        tmp_path: Path, model_paths: dict[str, Path]) -> None:
    """Redis down at accept time: still 202 and a queued task (via the outbox); it runs once Redis is back."""
    import dramatiq
    import pytest
    import redis

    from app.factory import create_app
    from tasks.broker import configure
    from tasks.registry import load_actors
    from tasks.relay import Relay
    from tests.conftest import ADMIN_PASSWORD, hash_once, seed_user

    server = RedisServer(tmp_path / "own-redis", appendonly=True).start()
    worker = None
    try:
        app = create_app(ai_settings(tmp_path / "own", server.url, model_paths))
        svc = app.extensions["fms"]
        broker = configure(svc.settings, svc)
        load_actors()
        user = seed_user(svc, "boss", "admin", hash_once(ADMIN_PASSWORD))
        b = Api(app.test_client(), svc.auth.create_api_key(user["id"], "manage", None, "t", actor="t")[0])
        form = _form(b, INCIDENT_SCHEMA)
        notes = _form(b, {"type": "object", "properties": {"details": {"type": "string"}}})
        sub = b.post(f"/api/v1/forms/{notes['id']}/submissions",
                     {"answers": {"details": "The heating in room 12 has been broken for three days."}}).json
        relay = Relay(svc.store, broker)

        server.stop()
        accepted = [b.post(f"/api/v1/forms/{form['id']}/fill", {"text": NARRATIVE}),
                    b.post(f"/api/v1/submissions/{sub['id']}/summarize")]
        assert [r.status_code for r in accepted] == [202, 202], [r.json for r in accepted]
        ids = [r.json["task_id"] for r in accepted]
        queued = [b.get(f"/api/v1/tasks/{task_id}") for task_id in ids]
        assert [(r.status_code, r.json["state"], r.json["actor"]) for r in queued] == [
            (200, "queued", "ai.fill"), (200, "queued", "ai.summarize")]
        with pytest.raises(redis.ConnectionError):
            relay.run_once()

        server.start()  # same port, same AOF directory
        wait_for(lambda: relay.run_once() == 0 and not svc.store.pending_events(10), 10, what="outbox drained")
        broker.emit_after("process_boot")
        worker = dramatiq.Worker(broker, queues={"ai", "default"}, worker_threads=1, worker_timeout=200)
        worker.start()
        fill, summary = (wait_task(b, task_id) for task_id in ids)
        assert fill["state"] == "succeeded" and fill["attempts"] == 1, fill
        assert b.get(f"/api/v1/submissions/{fill['result']['submission_id']}").json["status"] == "draft"
        assert summary["state"] == "succeeded" and summary["result"]["summary"].strip(), summary
    finally:
        if worker is not None:
            worker.stop(timeout=10_000)
        server.stop()


def test_engine_failures_open_the_breaker_and_the_api_answers_503(api: Api, svc: Any, broker: Any) -> None:
    import pytest

    from inference.isolation import EngineCrashed
    from tasks.ai import _guarded
    from tasks.breaker import breaker_for, reset_all
    from tasks.errors import Permanent, Retryable

    reset_all()
    form = _form(api, INCIDENT_SCHEMA)
    cb = breaker_for("engine:llama")
    cb.fail_max = 2

    def crash() -> None:
        raise EngineCrashed("engine process died (exit code -11); restarted")

    try:
        with pytest.raises(Retryable):
            _guarded("llama", crash)
        with pytest.raises(Retryable):
            _guarded("llama", crash)
        assert cb.current_state == "open"
        with pytest.raises(Permanent, match="model_unavailable"):
            _guarded("llama", crash)
        resp = api.post(f"/api/v1/forms/{form['id']}/fill", {"text": NARRATIVE})
        assert resp.status_code == 503 and resp.json["error"]["code"] == "model_unavailable"
        assert api.get("/api/v1/forms").status_code == 200
    finally:
        reset_all()
        from app.ai.service import clear_breaker_flag

        clear_breaker_flag(svc.cache, "llama")


def test_fill_on_a_real_ai_worker_process(api: Api, settings: Settings, tmp_path: Path, broker: Any) -> None:
    """``dramatiq tasks.worker --queues ai`` as deployed: configured from the environment only."""
    from tests.tasks.conftest import WorkerProcess

    proc = WorkerProcess(settings, tmp_path / "worker-ai.log", ("ai",), threads=1,
                         FMS_LLM_MODEL=settings.llm_model, FMS_EMBED_MODEL=settings.embed_model,
                         FMS_EMBED_TOKENIZER=settings.embed_tokenizer, FMS_AI_THREADS=str(settings.ai_threads))
    try:
        form = _form(api, INCIDENT_SCHEMA)
        resp = api.post(f"/api/v1/forms/{form['id']}/fill", {"text": NARRATIVES[3]})
        assert resp.status_code == 202
        task = wait_task(api, resp.json["task_id"], timeout=180)
        assert task["state"] == "succeeded", (task, proc.output()[-3000:])
        sub = api.get(f"/api/v1/submissions/{task['result']['submission_id']}").json
        assert sub["status"] == "draft" and sub["answers"].get("email") == "peter.novak@example.com"
    finally:
        proc.stop()


def test_model_switch_by_config(api: Api, svc: Any, settings: Settings, tmp_path: Path, worker: Any,
                                model_paths: dict[str, Path]) -> None:
    """Pointing FMS_LLM_MODEL elsewhere makes the worker close its engine and load the new file."""
    import tasks.ai
    from tasks import runtime

    form = _form(api, INCIDENT_SCHEMA)
    first = wait_task(api, api.post(f"/api/v1/forms/{form['id']}/fill", {"text": NARRATIVES[0]}).json["task_id"])
    assert first["state"] == "succeeded"
    old_pid = tasks.ai._engines["llama"].pid
    other = tmp_path / "other-name.gguf"
    other.symlink_to(model_paths["llm"])
    switched = ai_settings(tmp_path / "s", svc.settings.redis_url, model_paths, llm_model=str(other))
    runtime.use(switched, svc)
    try:
        task = wait_task(api, api.post(f"/api/v1/forms/{form['id']}/fill", {"text": NARRATIVES[1]}).json["task_id"])
        assert task["state"] == "succeeded", task
        assert task["result"]["metrics"]["load_ms"] > 0
        assert tasks.ai._engines["llama"].pid != old_pid
        assert tasks.ai._engines["llama"].spec.model_path == str(other)
    finally:
        runtime.use(settings, svc)


def test_fill_completion_is_announced_to_the_forms_webhooks(api: Api, worker: Any, relay: Any, receiver: Any) -> None:
    """``ai.completed`` goes through the outbox to every endpoint subscribed to ``*``, signed like the others."""
    import json

    form = _form(api, INCIDENT_SCHEMA)
    hook = api.post(f"/api/v1/forms/{form['id']}/webhooks", {"url": receiver.url + "/ai"})
    assert hook.status_code == 201, hook.json
    task_id = api.post(f"/api/v1/forms/{form['id']}/fill", {"text": NARRATIVE}).json["task_id"]
    task = wait_task(api, task_id)
    assert task["state"] == "succeeded"
    wait_for(lambda: relay.run_once() == 0 and not relay.store.pending_events(10), 10, what="outbox drained")
    [req] = wait_for(lambda: receiver.received("/ai"), 30, what="ai.completed webhook")
    body = json.loads(req["body"])
    assert body["type"] == "ai.completed" and body["data"]["task_id"] == task_id
    assert body["data"]["submission_id"] == task["result"]["submission_id"] and body["data"]["actor"] == "ai.fill"
    assert req["headers"]["webhook-signature"].startswith("v1,")


def test_a_call_over_the_timeout_kills_the_engine_child_and_the_next_task_works(
        api: Api, svc: Any, settings: Settings, worker: Any, model_paths: dict[str, Path], tmp_path: Path) -> None:
    import tasks.ai
    from tasks import runtime

    form = _form(api, {"type": "object", "properties": {"details": {"type": "string"}}})
    line = "Room {} reports that the heating failed and the windows leak when it rains."
    long_text = " ".join(line.format(i) for i in range(40))
    sub = api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": {"details": long_text}}).json
    tasks.ai.engine("llama")  # warm, so the 1 s budget is spent on the call itself
    before = tasks.ai._engines["llama"].restarts
    runtime.use(ai_settings(tmp_path / "t", settings.redis_url, model_paths, ai_timeout=1), svc)
    try:
        task = wait_task(api, api.post(f"/api/v1/submissions/{sub['id']}/summarize").json["task_id"])
    finally:
        runtime.use(settings, svc)
    assert task["state"] == "failed" and "timed out" in task["error"]["message"], task
    assert tasks.ai._engines["llama"].restarts == before + 1
    again = wait_task(api, api.post(f"/api/v1/submissions/{sub['id']}/summarize").json["task_id"])
    assert again["state"] == "succeeded", again
