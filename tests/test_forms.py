"""Forms API: schema validation, versions, caching, ETags."""

from __future__ import annotations

from typing import Any

from app.services import Services
from tests.conftest import SAMPLE_SCHEMA, Api


def test_create_returns_form_with_version_1(api: Api) -> None:
    resp = api.post("/api/v1/forms", {"title": "T", "schema": SAMPLE_SCHEMA})
    assert resp.status_code == 201
    assert resp.json["version"] == 1
    assert resp.headers["Location"] == f"/api/v1/forms/{resp.json['id']}"


def test_invalid_json_schema_is_rejected_with_pointer(api: Api, svc: Services) -> None:
    bad = {"type": "object", "properties": {"age": {"type": "integr"}}}
    resp = api.post("/api/v1/forms", {"title": "T", "schema": bad})
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "validation_failed"
    assert resp.json["error"]["details"][0]["pointer"].startswith("/schema/properties/age")
    assert svc.store.list_forms(None, 10) == []


def test_schema_must_be_an_object_schema(api: Api) -> None:
    resp = api.post("/api/v1/forms", {"title": "T", "schema": {"type": "string"}})
    assert resp.status_code == 422
    assert resp.json["error"]["details"][0]["pointer"] == "/schema"


def test_unknown_and_wrongly_typed_body_fields_are_all_reported(api: Api) -> None:
    resp = api.post("/api/v1/forms", {"title": 5, "schema": SAMPLE_SCHEMA, "colour": "red"})
    assert resp.status_code == 422
    pointers = {d["pointer"] for d in resp.json["error"]["details"]}
    assert pointers == {"/title", "/colour"}


def test_sensitive_fields_must_exist(api: Api) -> None:
    resp = api.post("/api/v1/forms", {"title": "T", "schema": SAMPLE_SCHEMA, "sensitive": ["nope"]})
    assert resp.status_code == 422
    assert resp.json["error"]["details"][0]["pointer"] == "/sensitive/0"


def test_put_creates_a_new_version_and_versions_are_listed(api: Api, form: dict[str, Any]) -> None:
    schema2 = {**SAMPLE_SCHEMA, "required": ["name"]}
    resp = api.put(f"/api/v1/forms/{form['id']}", {"title": "Contact v2", "schema": schema2})
    assert resp.status_code == 200 and resp.json["version"] == 2
    versions = api.get(f"/api/v1/forms/{form['id']}/versions").json["items"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["title"] == "Contact" and versions[1]["title"] == "Contact v2"
    v1 = api.get(f"/api/v1/forms/{form['id']}/versions/1").json
    assert v1["schema"]["required"] == ["name", "email"]


def test_put_with_stale_if_match_is_409(api: Api, form: dict[str, Any]) -> None:
    body = {"title": "x", "schema": SAMPLE_SCHEMA}
    assert api.put(f"/api/v1/forms/{form['id']}", body, headers={"If-Match": '"1"'}).status_code == 200
    resp = api.put(f"/api/v1/forms/{form['id']}", body, headers={"If-Match": '"1"'})
    assert resp.status_code == 409 and resp.json["error"]["code"] == "version_conflict"


def test_submission_records_the_version_it_was_validated_against(api: Api, form: dict[str, Any]) -> None:
    api.put(f"/api/v1/forms/{form['id']}", {"title": "v2", "schema": {**SAMPLE_SCHEMA, "required": ["name"]}})
    resp = api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": {"name": "No email"}})
    assert resp.status_code == 201, resp.json
    assert resp.json["form_version"] == 2


def test_get_is_cached_in_redis_and_invalidated_on_put(api: Api, form: dict[str, Any], svc: Services) -> None:
    path = f"/api/v1/forms/{form['id']}"
    assert api.get(path).json["version"] == 1
    cached = svc.cache.get("form", form["id"])
    assert cached is not None and b'"version":1' in cached
    api.put(path, {"title": "new", "schema": SAMPLE_SCHEMA})
    assert svc.cache.get("form", form["id"]) is None
    assert api.get(path).json["title"] == "new"


def test_etag_and_304(api: Api, form: dict[str, Any]) -> None:
    path = f"/api/v1/forms/{form['id']}"
    first = api.get(path)
    etag = first.headers["ETag"]
    assert "no-cache" in first.headers["Cache-Control"]
    again = api.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    api.put(path, {"title": "changed", "schema": SAMPLE_SCHEMA})
    assert api.get(path, headers={"If-None-Match": etag}).status_code == 200


def test_delete_hides_the_form(api: Api, form: dict[str, Any]) -> None:
    path = f"/api/v1/forms/{form['id']}"
    api.get(path)  # warm the cache
    assert api.delete(path).status_code == 204
    resp = api.get(path)
    assert resp.status_code == 404 and resp.json["error"]["code"] == "form_not_found"
    assert api.delete(path).status_code == 404


def test_list_forms_paginates(api: Api) -> None:
    ids = [api.post("/api/v1/forms", {"title": f"f{i}", "schema": SAMPLE_SCHEMA}).json["id"] for i in range(5)]
    page1 = api.get("/api/v1/forms?limit=3").json
    page2 = api.get(f"/api/v1/forms?limit=3&cursor={page1['next_cursor']}").json
    seen = [f["id"] for f in page1["items"] + page2["items"]]
    assert seen == sorted(ids, reverse=True)
    assert page2["next_cursor"] is None


def test_a_form_whose_audit_record_cannot_be_written_is_not_created(api: Api, svc: Services) -> None:
    """The form and its audit record commit together: with the audit insert failing for real (a
    SQLite trigger), creating, changing or deleting a form answers 500 and changes nothing."""
    import sqlite3

    made = api.post("/api/v1/forms", {"title": "Kept", "schema": SAMPLE_SCHEMA})
    assert made.status_code == 201
    with sqlite3.connect(svc.settings.sqlite_path) as db:
        db.execute("CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    before = api.get("/api/v1/forms").json
    assert api.post("/api/v1/forms", {"title": "Lost", "schema": SAMPLE_SCHEMA}).status_code == 500
    assert api.put(f"/api/v1/forms/{made.json['id']}", {"title": "Renamed", "schema": SAMPLE_SCHEMA}).status_code == 500
    assert api.delete(f"/api/v1/forms/{made.json['id']}").status_code == 500
    assert api.get("/api/v1/forms").json == before
    kept = api.get(f"/api/v1/forms/{made.json['id']}").json
    assert kept["title"] == "Kept" and kept["version"] == 1
