"""/openapi.json: collected from the registered blueprints, one operation per URL rule, honest schemas and examples."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate

from app import openapi
from app.ai import service as ai
from app.errors import BadRequest
from tests.conftest import Api

RULE_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def _routes(app: Flask) -> set[tuple[str, str]]:
    return {(method.lower(), RULE_PARAM.sub(r"{\1}", rule.rule))
            for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}}


def _documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, ops in doc["paths"].items() for method in ops}


def test_every_url_rule_has_an_operation_and_every_operation_a_rule(app: Flask, client: Any) -> None:
    doc = client.get("/openapi.json").json
    validate(doc)
    routes, documented = _routes(app), _documented(doc)
    assert routes - documented == set(), "routed but not documented"
    assert documented - routes == set(), "documented but not routed"


def test_the_document_comes_from_the_registered_blueprints_only() -> None:
    """No import-time global list: an app without a blueprint does not document its routes."""
    import app.ai.api  # noqa: F401 - imported, but not registered below
    from app.health.api import bp as health_bp

    bare = Flask("bare", static_folder=None)
    bare.register_blueprint(health_bp)
    assert _documented(openapi.build(bare)) == _routes(bare)
    assert not any(path.startswith("/api/") for _, path in _documented(openapi.build(bare)))


def test_an_operation_declared_twice_is_refused() -> None:
    import types

    from flask import Blueprint

    twice = Flask("twice")
    module = types.ModuleType("tests._twice_api")
    module.OPERATIONS = (openapi.Operation("get", "/x", "t", "one"), openapi.Operation("get", "/x", "t", "two"))
    import sys

    sys.modules[module.__name__] = module
    try:
        twice.register_blueprint(Blueprint("twice", module.__name__))
        with pytest.raises(ValueError, match="declared twice"):
            openapi.build(twice)
    finally:
        del sys.modules[module.__name__]


def _bodies(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            media = op.get("requestBody", {}).get("content", {}).get("application/json")
            if media is not None:
                out.append((f"{method.upper()} {path}", media))
    return out


def test_every_json_body_has_an_example_that_its_schema_accepts(client: Any) -> None:
    bodies = _bodies(client.get("/openapi.json").json)
    assert len(bodies) >= 15
    for name, media in bodies:
        assert "example" in media, f"{name} has no request example"
        errors = [e.message for e in Draft202012Validator(media["schema"], format_checker=FormatChecker())
                  .iter_errors(media["example"])]
        assert errors == [], f"{name}: its example does not validate: {errors}"


def test_response_examples_are_shown_for_json_answers(client: Any) -> None:
    doc = client.get("/openapi.json").json
    examples = {(m, p) for p, ops in doc["paths"].items() for m, op in ops.items()
                if any("content" in r for r in op["responses"].values() if "$ref" not in r)}
    assert {("post", "/api/v1/forms"), ("get", "/api/v1/tasks/{task_id}"),
            ("post", "/api/v1/forms/{form_id}/fill")} <= examples
    assert doc["components"]["responses"]["Error"]["content"]["application/json"]["example"]["error"]["code"]


def test_every_response_example_with_a_schema_is_accepted_by_it(client: Any) -> None:
    """A 202 or 503 documented whole (``Operation.responses``) must not show what its schema refuses."""
    doc = client.get("/openapi.json").json
    checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                media = response.get("content", {}).get("application/json", {})
                if "schema" in media and "example" in media:
                    root = {**media["schema"], "components": doc["components"]}  # "#/components/..." resolves
                    errors = list(Draft202012Validator(root, format_checker=FormatChecker()).iter_errors(
                        media["example"]))
                    assert not errors, (method, path, status, [e.message for e in errors])
                    checked += 1
    assert checked >= 5  # the analytics 202s and 503s, the export's 503


def _op(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return doc["paths"][path][method]  # type: ignore[no-any-return]


def _request_example(doc: dict[str, Any], method: str, path: str) -> Any:
    return _op(doc, method, path)["requestBody"]["content"]["application/json"]["example"]


def _response_example(doc: dict[str, Any], method: str, path: str, status: int) -> Any:
    return _op(doc, method, path)["responses"][str(status)]["content"]["application/json"]["example"]


def test_the_examples_work_against_the_real_endpoints(api: Api, client: Any) -> None:
    """Each documented request example is accepted as documented, and the answer has the example's keys."""
    doc = client.get("/openapi.json").json

    def call(method: str, path: str, status: int, **ids: str) -> Any:
        resp = api.call(method.upper(), path.format(**ids), json=_request_example(doc, method, path))
        assert resp.status_code == status, (method, path, resp.json)
        documented = _op(doc, method, path)["responses"][str(status)].get("content")
        if documented:
            assert set(resp.json) == set(_response_example(doc, method, path, status)), (method, path)
        return resp.json

    form = call("post", "/api/v1/forms", 201)
    call("put", "/api/v1/forms/{form_id}", 200, form_id=form["id"])
    sub = call("post", "/api/v1/forms/{form_id}/submissions", 201, form_id=form["id"])
    call("patch", "/api/v1/submissions/{sub_id}", 200, sub_id=sub["id"])
    link = call("post", "/api/v1/forms/{form_id}/links", 201, form_id=form["id"])
    call("post", "/api/v1/public/{token}/submissions", 201, token=link["token"])
    user = call("post", "/api/v1/users", 201)
    call("patch", "/api/v1/users/{user_id}", 200, user_id=user["id"])
    call("put", "/api/v1/forms/{form_id}/shares/{user_id}", 201, form_id=form["id"], user_id=user["id"])
    call("post", "/api/v1/api-keys", 201)
    call("post", "/api/v1/auth/login", 200)


@pytest.mark.parametrize("body", [
    {"text": "a complaint"}, {"text": "x" * ai.MAX_FILL_TEXT}, {"text": "x" * (ai.MAX_FILL_TEXT + 1)},
    {"text": ""}, {"text": " \n\t "}, {"text": 5}, {"text": None}, {}, [], "text", {"text": "ok", "extra": 1},
])
def test_fill_is_documented_with_the_schema_it_is_checked_with(client: Any, body: Any) -> None:
    """The fill body used to be written twice (the document allowed a blank text the endpoint refused)."""
    schema = _op(client.get("/openapi.json").json, "post", "/api/v1/forms/{form_id}/fill")["requestBody"][
        "content"]["application/json"]["schema"]
    assert schema == ai.FILL_BODY_SCHEMA
    valid = Draft202012Validator(schema).is_valid(body)
    try:
        ai.check_text(body)
        accepted = True
    except BadRequest as exc:
        accepted = False
        assert exc.details[0]["pointer"] == "/text"
    assert accepted == valid


def test_bodies_once_checked_by_hand_are_checked_with_their_documented_schema(api: Api, client: Any,
                                                                              form: dict[str, Any]) -> None:
    """Form summaries, model registration and benchmarks: the document's schema is the view's validator's."""
    from app.models import api as models_api

    doc = client.get("/openapi.json").json

    def schema(method: str, path: str) -> Any:
        return _op(doc, method, path)["requestBody"]["content"]["application/json"]["schema"]

    assert schema("post", "/api/v1/forms/{form_id}/summarize") == ai.SUMMARIZE_FORM_BODY_SCHEMA
    assert schema("post", "/api/v1/models") == models_api.REGISTER_BODY_SCHEMA
    assert schema("post", "/api/v1/models/{model_id}/benchmarks") == models_api.BENCH_BODY_SCHEMA
    summarize = f"/api/v1/forms/{form['id']}/summarize"
    for body, where in (([], ""), ({"created_after": None}, "/created_after"),
                        ({"created_before": 5}, "/created_before"), ({"created_after": "yesterday"}, "/created_after")):
        resp = api.post(summarize, body)
        assert resp.status_code == 400 and resp.json["error"]["details"][0]["pointer"] == where, (body, resp.json)
    assert api.post(summarize, {"created_after": "2026-03-01T00:00:00Z"}).status_code != 400
    for body, where in (({"path": ""}, "/path"), ({"name": "x"}, "/path"),
                        ({"path": "/srv/m.gguf", "name": 5}, "/name")):
        resp = api.post("/api/v1/models", body)
        assert resp.status_code == 422 and resp.json["error"]["details"][0]["pointer"] == where, (body, resp.json)
    assert models_api.BENCH_BODY.is_valid({"threads": [1, 2], "reps": 5})
    assert not models_api.BENCH_BODY.is_valid({"threads": "all"}) and not models_api.BENCH_BODY.is_valid({"reps": 1})
