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
                         ("GET", f"/api/v1/forms/{fid}/duplicates"), ("GET", f"/api/v1/forms/{fid}/similar?q=a"),
                         ("GET", "/api/v1/models"), ("POST", "/api/v1/models"), ("DELETE", "/api/v1/models/x"),
                         ("POST", "/api/v1/models/x/benchmarks"), ("GET", "/api/v1/benchmarks/x")]:
        resp = client.open(path, method=method, json={})
        assert resp.status_code == 401, (method, path, resp.status_code)


def test_fill_input_is_checked(api: Api, form: dict[str, Any]) -> None:
    assert api.post(f"/api/v1/forms/{form['id']}/fill", {"text": "  "}).status_code == 400
    assert api.post(f"/api/v1/forms/{form['id']}/fill", {"text": "x" * 20_001}).status_code == 400
    assert api.post("/api/v1/forms/nope/fill", {"text": "hello"}).status_code == 404
