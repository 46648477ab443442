"""Submissions API: validation, idempotency, drafts, lists, revisions, deletes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from app.services import Services
from tests.conftest import Api, grant, make_user_key

VALID = {"name": "Ada", "email": "ada@example.org", "age": 36}


def count(svc: Services, form_id: str) -> int:
    from app.store import SubmissionQuery

    return svc.store.count_submissions(SubmissionQuery(form_id=form_id))


def submit(api: Api, form: dict[str, Any], answers: dict[str, Any], **kw: Any) -> Any:
    return api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": answers, **kw})


def test_created_submission_has_the_contract_shape(api: Api, form: dict[str, Any]) -> None:
    resp = submit(api, form, VALID)
    assert resp.status_code == 201
    body = resp.json
    assert body["form_id"] == form["id"] and body["form_version"] == 1
    assert body["status"] == "submitted" and body["answers"] == VALID
    assert api.get(f"/api/v1/submissions/{body['id']}").json["answers"] == VALID


def test_every_validation_error_is_returned_with_its_pointer(api: Api, form: dict[str, Any], svc: Services) -> None:
    resp = submit(api, form, {"email": "not-an-email", "age": -1, "tags": ["a", "z"], "bogus": 1})
    assert resp.status_code == 422
    pointers = sorted(d["pointer"] for d in resp.json["error"]["details"])
    assert pointers == ["/answers/age", "/answers/bogus", "/answers/email", "/answers/name", "/answers/tags/1"]
    assert count(svc, form["id"]) == 0


@pytest.mark.parametrize("body", [{"answers": []}, {"answers": {}, "draft": "yes"}, {"answer": {}}, []])
def test_malformed_bodies_are_422_and_write_nothing(api: Api, form: dict[str, Any], svc: Services,
                                                    body: Any) -> None:
    resp = api.post(f"/api/v1/forms/{form['id']}/submissions", body)
    assert resp.status_code == 422, resp.json
    assert resp.json["error"]["details"]
    assert count(svc, form["id"]) == 0


def test_idempotency_key_replays_the_original_and_rejects_a_different_body(
        api: Api, form: dict[str, Any], svc: Services) -> None:
    headers = {"Idempotency-Key": "abc-123"}
    first = api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": VALID}, headers=headers)
    again = api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": VALID}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    other = api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": {**VALID, "age": 1}}, headers=headers)
    assert other.status_code == 409 and other.json["error"]["code"] == "idempotency_conflict"
    assert count(svc, form["id"]) == 1


def test_concurrent_retries_with_one_key_create_one_submission(app: Any, admin_token: str, form: dict[str, Any],
                                                               svc: Services) -> None:
    results: list[int] = []

    def post() -> None:
        client = app.test_client()
        resp = client.post(f"/api/v1/forms/{form['id']}/submissions", json={"answers": VALID},
                           headers={"Authorization": f"Bearer {admin_token}", "Idempotency-Key": "same"})
        results.append(resp.status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * 8
    assert count(svc, form["id"]) == 1


def test_draft_may_skip_required_fields_and_is_completed_later(api: Api, form: dict[str, Any]) -> None:
    draft = submit(api, form, {"name": "Ada"}, draft=True)
    assert draft.status_code == 201 and draft.json["status"] == "draft"
    bad_draft = submit(api, form, {"age": "old"}, draft=True)
    assert bad_draft.status_code == 422  # drafts are still type-checked
    incomplete = api.patch(f"/api/v1/submissions/{draft.json['id']}", {"status": "submitted"})
    assert incomplete.status_code == 422
    assert incomplete.json["error"]["details"][0]["pointer"] == "/answers/email"
    done = api.patch(f"/api/v1/submissions/{draft.json['id']}",
                     {"answers": {"email": "ada@example.org"}, "status": "submitted"})
    assert done.status_code == 200 and done.json["status"] == "submitted"


def _seed(api: Api, form: dict[str, Any], n: int) -> list[str]:
    return [submit(api, form, {**VALID, "age": i % 100, "topic": ["billing", "bug"][i % 2]}).json["id"]
            for i in range(n)]


def test_cursor_pagination_has_no_gaps_or_duplicates_under_concurrent_inserts(
        api: Api, form: dict[str, Any]) -> None:
    ids = _seed(api, form, 25)
    seen: list[str] = []
    url = f"/api/v1/forms/{form['id']}/submissions?limit=10"
    page = api.get(url).json
    while True:
        seen += [i["id"] for i in page["items"]]
        _seed(api, form, 2)  # new rows arrive while the client pages
        if not page["next_cursor"]:
            break
        page = api.get(f"{url}&cursor={page['next_cursor']}").json
    assert seen == sorted(ids, reverse=True)


def test_limit_is_capped_at_1000_and_no_page_cap(api: Api, form: dict[str, Any]) -> None:
    resp = api.get(f"/api/v1/forms/{form['id']}/submissions?limit=1001")
    assert resp.status_code == 400 and resp.json["error"]["details"][0]["pointer"] == "limit"
    assert api.get(f"/api/v1/forms/{form['id']}/submissions?limit=1000").status_code == 200


def test_bad_cursor_is_400(api: Api, form: dict[str, Any], svc: Services) -> None:
    for cursor in ["garbage", "eyJ4IjoxfQ.0000000000000000"]:
        resp = api.get(f"/api/v1/forms/{form['id']}/submissions?cursor={cursor}")
        assert resp.status_code == 400 and resp.json["error"]["code"] == "invalid_cursor"
    other = api.post("/api/v1/forms", {"title": "o", "schema": form["schema"]}).json
    submit(api, form, VALID)
    cursor = svc.cursors.encode("2026-01-01T00:00:00.000000Z", "x", form["id"])
    resp = api.get(f"/api/v1/forms/{other['id']}/submissions?cursor={cursor}")
    assert resp.status_code == 400  # a cursor is bound to its list


def test_typed_filters(api: Api, form: dict[str, Any]) -> None:
    _seed(api, form, 10)
    base = f"/api/v1/forms/{form['id']}/submissions"
    items = api.get(f"{base}?filter[answers.topic]=bug").json["items"]
    assert len(items) == 5 and all(i["answers"]["topic"] == "bug" for i in items)
    items = api.get(f"{base}?filter[answers.age][gte]=7").json["items"]
    assert sorted(i["answers"]["age"] for i in items) == [7, 8, 9]
    items = api.get(f"{base}?filter[answers.age][in]=1,3").json["items"]
    assert sorted(i["answers"]["age"] for i in items) == [1, 3]
    assert api.get(f"{base}?filter[status]=draft").json["items"] == []
    assert len(api.get(f"{base}?filter[status]=submitted,draft").json["items"]) == 10


@pytest.mark.parametrize(("query", "pointer", "code"), [
    ("filter[answers.nope]=1", "filter[answers.nope]", "unknown_field"),
    ("filter[answers.age]=old", "filter[answers.age]", "invalid_filter"),
    ("filter[answers.subscribed][gt]=true", "filter[answers.subscribed][gt]", "invalid_filter"),
    ("filter[answers.tags]=a", "filter[answers.tags]", "unfilterable_field"),
    ("filter[status]=lost", "filter[status]", "invalid_filter"),
    ("created_after=yesterday", "created_after", "invalid_timestamp"),
    ("fields=name,nope", "fields", "unknown_field"),
    ("sort=name", "sort", "unknown_parameter"),
    ("include_total=maybe", "include_total", "bad_request"),
])
def test_bad_filters_are_400_naming_the_parameter(api: Api, form: dict[str, Any], query: str, pointer: str,
                                                  code: str) -> None:
    resp = api.get(f"/api/v1/forms/{form['id']}/submissions?{query}")
    assert resp.status_code == 400, resp.json
    assert resp.json["error"]["code"] == code
    assert resp.json["error"]["details"][0]["pointer"] == pointer


def test_date_range_fields_and_total(api: Api, form: dict[str, Any]) -> None:
    ids = _seed(api, form, 4)
    middle = api.get(f"/api/v1/submissions/{ids[1]}").json["created_at"]
    base = f"/api/v1/forms/{form['id']}/submissions"
    after = api.get(f"{base}?created_after={middle}").json["items"]
    assert [i["id"] for i in after] == [ids[3], ids[2]]
    before = api.get(f"{base}?created_before={middle}").json["items"]
    assert [i["id"] for i in before] == [ids[0]]
    page = api.get(f"{base}?fields=name,age&limit=2&include_total=true").json
    assert page["total"] == 4 and len(page["items"]) == 2
    assert all(set(i["answers"]) == {"name", "age"} for i in page["items"])


def test_patch_keeps_revisions_and_review_status(api: Api, form: dict[str, Any]) -> None:
    sid = submit(api, form, VALID).json["id"]
    resp = api.patch(f"/api/v1/submissions/{sid}", {"answers": {"age": 37, "phone": "555"}})
    assert resp.status_code == 200 and resp.json["answers"]["age"] == 37 and resp.json["rev"] == 2
    api.patch(f"/api/v1/submissions/{sid}", {"status": "approved", "note": "checked"})
    revs = api.get(f"/api/v1/submissions/{sid}/revisions").json["items"]
    assert [(r["rev"], r["status"], r["answers"].get("age")) for r in revs] == [(1, "submitted", 36),
                                                                                 (2, "submitted", 37)]
    assert api.get(f"/api/v1/submissions/{sid}").json["status"] == "approved"
    bad = api.patch(f"/api/v1/submissions/{sid}", {"answers": {"age": "x"}})
    assert bad.status_code == 422 and api.get(f"/api/v1/submissions/{sid}").json["answers"]["age"] == 37
    assert api.patch(f"/api/v1/submissions/{sid}", {"status": "lost"}).status_code == 422


def test_soft_delete_and_restore(api: Api, form: dict[str, Any]) -> None:
    sid = submit(api, form, VALID).json["id"]
    base = f"/api/v1/forms/{form['id']}/submissions"
    assert api.delete(f"/api/v1/submissions/{sid}").status_code == 204
    assert api.get(base).json["items"] == []
    assert [i["id"] for i in api.get(f"{base}?deleted=true").json["items"]] == [sid]
    assert api.patch(f"/api/v1/submissions/{sid}", {"status": "approved"}).status_code == 409
    assert api.post(f"/api/v1/submissions/{sid}/restore").status_code == 200
    assert [i["id"] for i in api.get(base).json["items"]] == [sid]
    assert api.post(f"/api/v1/submissions/{sid}/restore").status_code == 409


def test_sensitive_fields_are_redacted_for_viewers(api: Api, form: dict[str, Any], svc: Services) -> None:
    sid = submit(api, form, {**VALID, "phone": "+1 555 0100"}).json["id"]
    viewer = api.as_(make_user_key(svc, "vic", "viewer", "read"))
    grant(api, svc, form["id"], "vic", "viewer")
    assert viewer.get(f"/api/v1/submissions/{sid}").json["answers"]["phone"] == "[redacted]"
    listed = viewer.get(f"/api/v1/forms/{form['id']}/submissions").json["items"][0]
    assert listed["answers"]["phone"] == "[redacted]"
    assert api.get(f"/api/v1/submissions/{sid}").json["answers"]["phone"] == "+1 555 0100"


def test_submission_writes_its_event_to_the_outbox_atomically(api: Api, form: dict[str, Any],
                                                              svc: Services) -> None:
    sid = submit(api, form, VALID).json["id"]
    submit(api, form, {"name": "draft"}, draft=True)
    events = svc.store.pending_events(100)
    assert [(e["topic"], e["payload"]["data"]["id"]) for e in events] == [("submission.created", sid)]
    assert events[0]["payload"]["data"]["answers"] == VALID
