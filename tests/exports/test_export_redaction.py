"""Export tasks redact what is sensitive when they run, not only what was sensitive when asked for.

The task waits in the queue (a real broker on the real redis-server, no
worker yet) while the form's owner marks another field sensitive; then a real
``analytics`` worker runs it. A caller who does not see sensitive fields gets
the new one redacted too (the union of then and now); one who does still sees
it; a filter on the newly hidden field fails the task instead of answering.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.services import Services
from tests.conftest import SAMPLE_SCHEMA, Api, grant, make_user_key
from tests.exports.conftest import seed
from tests.sql.test_query_api import finished


def _start(client: Api, form_id: str, filters: dict[str, str] | None = None) -> dict[str, Any]:
    resp = client.post(f"/api/v1/forms/{form_id}/exports", {"format": "jsonl", "filters": filters or {}})
    assert resp.status_code == 202, resp.json
    return resp.json  # type: ignore[no-any-return]


def test_a_field_marked_sensitive_while_the_task_waits_goes_out_redacted(
        api: Api, svc: Services, form: dict[str, Any], broker: Any, request: pytest.FixtureRequest) -> None:
    seed(svc, form, 3)
    viewer = api.as_(make_user_key(svc, "vic", "editor", "read"))
    grant(api, svc, form["id"], "vic", "viewer")
    editor = api.as_(make_user_key(svc, "eve", "editor", "write"))
    grant(api, svc, form["id"], "eve", "editor")
    hidden_then = _start(viewer, form["id"])
    clear = _start(editor, form["id"])
    probing = _start(viewer, form["id"], {"filter[answers.email]": "u1@example.org"})  # allowed when asked
    changed = api.put(f"/api/v1/forms/{form['id']}", {"title": "Contact", "schema": SAMPLE_SCHEMA,
                                                      "sensitive": ["phone", "email"]})
    assert changed.status_code == 200, changed.json
    request.getfixturevalue("worker")  # only now does a worker take the queued tasks

    assert finished(api, hidden_then["task_id"])["state"] == "succeeded"
    rows = [json.loads(x) for x in viewer.get(hidden_then["download_url"]).get_data(as_text=True).splitlines()]
    assert len(rows) == 3 and {(r["phone"], r["email"]) for r in rows} == {("[redacted]", "[redacted]")}
    assert {r["name"] for r in rows} == {"n0", "n1", "n2"}

    assert finished(api, clear["task_id"])["state"] == "succeeded"
    rows = [json.loads(x) for x in editor.get(clear["download_url"]).get_data(as_text=True).splitlines()]
    assert {r["email"] for r in rows} == {"u0@example.org", "u1@example.org", "u2@example.org"}
    assert {r["phone"] for r in rows} == {"+1 555 0000", "+1 555 0001", "+1 555 0002"}

    task = finished(api, probing["task_id"])
    assert task["state"] in {"failed", "dead"} and "sensitive" in json.dumps(task), task
    assert viewer.get(probing["download_url"]).status_code == 409  # export_failed, no file
