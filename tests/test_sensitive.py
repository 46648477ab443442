"""Sensitive fields: who sees them (the caller's level on the form), and that nothing leaks them.

A caller who may not see a sensitive field gets it redacted everywhere, and
may not ask questions about it either: a filter, ``fields=`` or ``split_by``
naming it is a ``403 field_hidden`` on every route that takes them (a filter
would otherwise answer "is the value s1?" through ``total``, and ``split_by``
would list every value with counts). Real SQLite, real Redis, the Flask test
client; every redaction goes through the one :func:`app.forms.sensitive.redact`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from app.forms.sensitive import REDACTED, redact, sensitive_fields
from app.services import Services
from tests.conftest import SAMPLE_SCHEMA, Api, grant, make_user_key

ROOT = Path(__file__).resolve().parents[1]
SECRET = {"name": "Ada", "email": "ada@example.org", "phone": "+1 555 0100", "topic": "bug", "age": 41}
OTHER = {"name": "Bob", "email": "bob@example.org", "phone": "+1 555 0199", "topic": "billing", "age": 20}


@pytest.fixture
def secret_form(api: Api) -> dict[str, Any]:
    """A form whose ``phone`` (a string) and ``topic`` (an enum, so splittable) are sensitive, two answers."""
    resp = api.post("/api/v1/forms", {"title": "Secrets", "schema": SAMPLE_SCHEMA, "sensitive": ["phone", "topic"]})
    assert resp.status_code == 201, resp.json
    for answers in (SECRET, OTHER):
        assert api.post(f"/api/v1/forms/{resp.json['id']}/submissions", {"answers": answers}).status_code == 201
    return resp.json  # type: ignore[no-any-return]


def shared(api: Api, svc: Services, form: dict[str, Any], username: str, role: str, share: str) -> Api:
    """A client for a new ``role`` user holding a ``share`` share of ``form`` (key scope: all the role allows)."""
    scope = "read" if role == "viewer" else "manage"
    client = api.as_(make_user_key(svc, username, role, scope))
    grant(api, svc, form["id"], username, share)
    return client


def assert_hidden(resp: Any, param: str) -> None:
    """403 ``field_hidden`` in the error shape, naming the parameter."""
    assert resp.status_code == 403, resp.get_data(as_text=True)
    err = resp.json["error"]
    assert set(err) == {"code", "message", "details", "request_id"} and err["request_id"]
    assert err["code"] == "field_hidden" and [d["pointer"] for d in err["details"]] == [param], err


# --- S1: no questions about a hidden field -------------------------------------------------------
HIDDEN_ARGS = [
    ("filter[answers.phone]", "+1 555 0100"),
    ("filter[answers.age][gte]", "18"),  # not sensitive: the control, must pass
    ("filter[answers.topic][in]", "bug,other"),
    ("filter[answers.phone][gte]", "+1 555 01"),
    ("fields", "name,phone"),
]


@pytest.mark.parametrize("path", ["/submissions", "/export", "/analytics", "/analytics/timeseries"])
@pytest.mark.parametrize(("param", "value"), HIDDEN_ARGS)
def test_a_viewer_share_cannot_filter_or_pick_hidden_fields(api: Api, svc: Services, secret_form: dict[str, Any],
                                                            path: str, param: str, value: str) -> None:
    viewer = shared(api, svc, secret_form, "val", "editor", "viewer")
    url = f"/api/v1/forms/{secret_form['id']}{path}"
    if param == "fields" and path.startswith("/analytics"):
        assert viewer.get(url, query_string={param: value}).status_code == 400  # not a parameter there at all
        return
    resp = viewer.get(url, query_string={param: value})
    if "age" in param:
        assert resp.status_code == 200, resp.get_data(as_text=True)
    else:
        assert_hidden(resp, param)
    seen = api.get(url, query_string={param: value})  # the owner may ask
    assert seen.status_code == 200, seen.get_data(as_text=True)


def test_the_filter_no_longer_answers_what_the_value_is(api: Api, svc: Services, secret_form: dict[str, Any]) -> None:
    """The review's probe: total 1 for the right guess, 0 for a wrong one. Now both are refused alike."""
    url = f"/api/v1/forms/{secret_form['id']}/submissions"
    viewer = shared(api, svc, secret_form, "val", "editor", "viewer")
    right = viewer.get(url, query_string={"filter[answers.phone]": "+1 555 0100", "include_total": "true"})
    wrong = viewer.get(url, query_string={"filter[answers.phone]": "+1 555 0000", "include_total": "true"})
    assert right.status_code == wrong.status_code == 403 and "total" not in right.json
    owner = api.get(url, query_string={"filter[answers.phone]": "+1 555 0100", "include_total": "true"}).json
    assert owner["total"] == 1  # the filter itself works for whoever may see the field


def test_split_by_a_hidden_enum_is_refused(api: Api, svc: Services, secret_form: dict[str, Any]) -> None:
    url = f"/api/v1/forms/{secret_form['id']}/analytics"
    viewer = shared(api, svc, secret_form, "val", "editor", "viewer")
    assert_hidden(viewer.get(url, query_string={"split_by": "topic"}), "split_by")
    assert_hidden(viewer.get(url, query_string={"split_by": "topic", "format": "csv"}), "split_by")
    assert viewer.get(url, query_string={"split_by": "subscribed"}).status_code == 200
    groups = api.get(url, query_string={"split_by": "topic"}).json["split"]["groups"]
    assert {g["value"]: g["total"] for g in groups} == {"bug": 1, "billing": 1}
    body = viewer.get(url).json  # no split: the field is there as counts only
    assert body["fields"]["topic"] == {"kind": "enum", "count": 2, "missing": 0, "redacted": True}


def test_an_export_task_on_a_hidden_field_is_refused_and_nothing_is_written(
        api: Api, svc: Services, secret_form: dict[str, Any]) -> None:
    url = f"/api/v1/forms/{secret_form['id']}/exports"
    viewer = shared(api, svc, secret_form, "val", "editor", "viewer")
    before = len(svc.store.list_tasks(None, None, None, 100))  # type: ignore[attr-defined]
    for filters, param in (({"filter[answers.topic]": "bug"}, "/filters/filter[answers.topic]"),
                           ({"fields": "phone"}, "/filters/fields")):
        assert_hidden(viewer.post(url, {"format": "csv", "filters": filters}), param)
    assert len(svc.store.list_tasks(None, None, None, 100)) == before  # type: ignore[attr-defined]
    downloads = svc.settings.data_dir / "downloads"
    assert not downloads.exists() or not list(downloads.glob("*.json"))


# --- S2: the level on this form decides, not the user's role -------------------------------------
@pytest.mark.parametrize(("role", "share", "sees"), [
    ("editor", "viewer", False),  # the review's case: an editor user with only a viewer share
    ("editor", "editor", True),
    ("editor", "manager", True),
    ("viewer", "viewer", False),
    ("viewer", "manager", False),  # the role ceiling: a viewer user reads, whatever the share
])
def test_who_sees_sensitive_values_follows_the_share(api: Api, svc: Services, secret_form: dict[str, Any],
                                                     role: str, share: str, sees: bool) -> None:
    caller = shared(api, svc, secret_form, "sam", role, share)
    base = f"/api/v1/forms/{secret_form['id']}"
    sub = api.get(f"{base}/submissions").json["items"][1]  # newest first: SECRET is the older one
    assert api.patch(f"/api/v1/submissions/{sub['id']}", {"status": "approved"}).status_code == 200  # a revision
    phone = caller.get(f"/api/v1/submissions/{sub['id']}").json["answers"]["phone"]
    assert phone == ("+1 555 0100" if sees else REDACTED)
    listed = caller.get(f"{base}/submissions").json["items"]
    assert {i["answers"]["phone"] == REDACTED for i in listed} == {not sees}
    revisions = caller.get(f"/api/v1/submissions/{sub['id']}/revisions").json["items"]
    assert [r["answers"]["phone"] for r in revisions] == ["+1 555 0100" if sees else REDACTED]
    exported = caller.get(f"{base}/export", query_string={"format": "jsonl"}).get_data(as_text=True)
    assert ("555 0100" in exported) is sees and (REDACTED in exported) is not sees
    assert caller.get(f"{base}/analytics").json["fields"]["phone"]["redacted"] is not sees


def test_the_owner_sees_them_and_losing_the_share_hides_them_again(api: Api, svc: Services) -> None:
    owner = api.as_(make_user_key(svc, "olga", "editor", "manage"))
    form = owner.post("/api/v1/forms", {"title": "Mine", "schema": SAMPLE_SCHEMA, "sensitive": ["phone"]}).json
    sid = owner.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": SECRET}).json["id"]
    assert owner.get(f"/api/v1/submissions/{sid}").json["answers"]["phone"] == "+1 555 0100"
    ed = shared(owner, svc, form, "eddy", "editor", "editor")
    assert ed.get(f"/api/v1/submissions/{sid}").json["answers"]["phone"] == "+1 555 0100"
    grant(owner, svc, form["id"], "eddy", "viewer")  # demoted: takes effect on the next request
    assert ed.get(f"/api/v1/submissions/{sid}").json["answers"]["phone"] == REDACTED


# --- D: one redaction ----------------------------------------------------------------------------
def test_redact_masks_every_hidden_key_even_a_null_and_leaves_its_input_alone() -> None:
    answers = {"a": 1, "b": None, "c": "x"}
    assert redact(answers, frozenset({"b", "c", "zz"})) == {"a": 1, "b": REDACTED, "c": REDACTED}
    assert answers == {"a": 1, "b": None, "c": "x"}
    assert redact(answers, frozenset()) == answers and redact(answers, frozenset()) is not answers
    assert redact(None, frozenset({"a"})) == {}
    assert sensitive_fields({"sensitive": ["a", "a"]}) == {"a"} and sensitive_fields({}) == frozenset()


def test_the_redaction_marker_is_written_in_one_place() -> None:
    """No module but app/forms/sensitive.py spells the marker (the log scrubber's own marker aside)."""
    allowed = {ROOT / "app/forms/sensitive.py", ROOT / "app/observability/logging.py"}
    spelled = []
    for top in ("app", "etl", "tasks"):
        for path in (ROOT / top).rglob("*.py"):
            if path in allowed:
                continue
            tree = ast.parse(path.read_text())
            spelled += [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree)
                        if isinstance(node, ast.Constant) and node.value == REDACTED]
    assert spelled == []
