"""Per-form sharing: the role x share matrix over every form-scoped route, the shares API, lists, tasks.

The matrix walks Flask's URL map, so a route added later with a ``<form_id>``
(or a submission, webhook or delivery of a form) in its path is checked too:
unseen forms must answer 404 everywhere, seen ones 403 where the grant falls
short (the need of each known route is listed below; unknown routes are held
to the 404 rule and must let the owner in).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from app.services import Services
from app.util import new_id, now_iso
from tests.conftest import SAMPLE_SCHEMA, Api, grant, make_user_key

VALID = {"name": "Ada", "email": "ada@example.org", "phone": "+1 555 0100"}
# What each form-scoped route needs: read (viewer), write (editor) or manage (manager).
NEEDS = {
    ("GET", "/api/v1/forms/<form_id>"): "read",
    ("PUT", "/api/v1/forms/<form_id>"): "manage",
    ("DELETE", "/api/v1/forms/<form_id>"): "manage",
    ("GET", "/api/v1/forms/<form_id>/versions"): "read",
    ("GET", "/api/v1/forms/<form_id>/versions/<int:version>"): "read",
    ("POST", "/api/v1/forms/<form_id>/submissions"): "write",
    ("GET", "/api/v1/forms/<form_id>/submissions"): "read",
    ("GET", "/api/v1/submissions/<sub_id>"): "read",
    ("PATCH", "/api/v1/submissions/<sub_id>"): "write",
    ("DELETE", "/api/v1/submissions/<sub_id>"): "write",
    ("POST", "/api/v1/submissions/<sub_id>/restore"): "write",
    ("GET", "/api/v1/submissions/<sub_id>/revisions"): "read",
    ("POST", "/api/v1/forms/<form_id>/links"): "manage",
    ("GET", "/api/v1/forms/<form_id>/links"): "manage",
    ("DELETE", "/api/v1/forms/<form_id>/links/<link_id>"): "manage",
    ("POST", "/api/v1/forms/<form_id>/webhooks"): "manage",
    ("GET", "/api/v1/forms/<form_id>/webhooks"): "manage",
    ("GET", "/api/v1/webhooks/<hook_id>"): "manage",
    ("PATCH", "/api/v1/webhooks/<hook_id>"): "manage",
    ("DELETE", "/api/v1/webhooks/<hook_id>"): "manage",
    ("GET", "/api/v1/webhooks/<hook_id>/deliveries"): "manage",
    ("POST", "/api/v1/webhooks/<hook_id>/redeliver"): "manage",
    ("POST", "/api/v1/deliveries/<delivery_id>/redeliver"): "manage",
    ("POST", "/api/v1/forms/<form_id>/fill"): "write",
    ("POST", "/api/v1/submissions/<sub_id>/summarize"): "write",
    ("POST", "/api/v1/forms/<form_id>/summarize"): "read",
    ("GET", "/api/v1/forms/<form_id>/duplicates"): "read",
    ("GET", "/api/v1/forms/<form_id>/similar"): "read",
    ("GET", "/api/v1/forms/<form_id>/export"): "read",
    ("POST", "/api/v1/forms/<form_id>/exports"): "read",
    ("GET", "/api/v1/forms/<form_id>/analytics"): "read",
    ("GET", "/api/v1/forms/<form_id>/analytics/timeseries"): "read",
    ("GET", "/api/v1/forms/<form_id>/shares"): "manage",
    ("GET", "/api/v1/forms/<form_id>/shares/<user_id>"): "manage",
    ("PUT", "/api/v1/forms/<form_id>/shares/<user_id>"): "manage",
    ("DELETE", "/api/v1/forms/<form_id>/shares/<user_id>"): "manage",
}
FORM_PARAMS = ("<form_id>", "<sub_id>", "<hook_id>", "<delivery_id>")
UNSEEN = {"form_not_found", "submission_not_found"}
LEVELS = ("read", "write", "manage")
ROLE_CEILING = {"viewer": "read", "editor": "manage"}
GRANT_LEVEL = {None: None, "viewer": "read", "editor": "write", "manager": "manage"}
# Bodies that pass the access check and then stop before any broker or model is needed.
BODIES = {("POST", "/api/v1/webhooks/<hook_id>/redeliver"): {"state": "no-such-state"}}


def form_routes(app: Flask) -> list[tuple[str, str]]:
    """Every (method, rule) of the API whose path names a form or something of one; DELETE form last."""
    out = []
    for rule in app.url_map.iter_rules():
        if getattr(app.view_functions[rule.endpoint], "_fms_public", False):
            continue
        if any(p in rule.rule for p in FORM_PARAMS):
            out += [(m, rule.rule) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(out, key=lambda r: (r == ("DELETE", "/api/v1/forms/<form_id>"), r[0] == "DELETE", r))


def world(api: Api, svc: Services) -> dict[str, str]:
    """A fresh form of ``api``'s user with a submission, a webhook, a pending delivery and a bystander share."""
    form = api.post("/api/v1/forms", {"title": "Shared", "schema": SAMPLE_SCHEMA, "sensitive": ["phone"]}).json
    sub = api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": VALID}).json
    now = now_iso()
    hook = {"id": new_id(), "form_id": form["id"], "url": "http://127.0.0.1:9/hook", "secret": "whsec_x",
            "events": ["*"], "description": None, "active": 1, "consecutive_failures": 0, "include_sensitive": 0,
            "created_by": None, "created_at": now, "updated_at": now}
    svc.store.create_webhook(hook)  # type: ignore[attr-defined]
    delivery, _ = svc.store.put_delivery({  # type: ignore[attr-defined]
        "id": new_id(), "endpoint_id": hook["id"], "event_id": new_id(), "form_id": form["id"],
        "topic": "submission.created", "payload": {}, "state": "pending", "attempts": 0,
        "created_at": now, "updated_at": now})
    make_user_key(svc, "bystander", "viewer", "read")
    grant(api, svc, form["id"], "bystander", "viewer")
    return {"form_id": form["id"], "sub_id": sub["id"], "hook_id": hook["id"], "delivery_id": delivery["id"],
            "link_id": "01NOSUCHLINK", "version": "1", "user_id": svc.store.get_user_by_name("bystander")["id"]}


def call(client: Api, method: str, rule: str, ids: dict[str, str]) -> Any:
    path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: ids[m.group(1)], rule)
    return client.call(method, path, json=BODIES.get((method, rule), {}))


def allowed(role: str, share: str | None, need: str) -> bool | None:
    """True/False when the grant and role decide it; None when the form is not seen at all."""
    level = GRANT_LEVEL[share]
    if level is None:
        return None
    ceiling = min(level, ROLE_CEILING[role], key=LEVELS.index)
    return LEVELS.index(ceiling) >= LEVELS.index(need)


CASES = [("viewer", None), ("viewer", "viewer"), ("viewer", "manager"), ("editor", None), ("editor", "viewer"),
         ("editor", "editor"), ("editor", "manager")]


@pytest.mark.parametrize(("role", "share"), CASES, ids=[f"{r}-{s or 'unshared'}" for r, s in CASES])
def test_role_by_share_matrix_on_every_form_route(app: Flask, api: Api, svc: Services, role: str,
                                                  share: str | None) -> None:
    ids = world(api, svc)
    scope = "read" if role == "viewer" else "manage"
    user = api.as_(make_user_key(svc, f"u-{role}", role, scope))
    if share:
        grant(api, svc, ids["form_id"], f"u-{role}", share)
    routes = form_routes(app)
    assert ("GET", "/api/v1/forms/<form_id>/shares") in routes and len(routes) >= len(NEEDS)
    for method, rule in routes:
        need = NEEDS.get((method, rule))
        expect = allowed(role, share, need or "manage")
        resp = call(user, method, rule, ids)
        what = f"{role} with share {share}: {method} {rule} -> {resp.status_code} {resp.get_json(silent=True)}"
        code = (resp.get_json(silent=True) or {}).get("error", {}).get("code")
        if expect is None:
            assert resp.status_code == 404 and code in UNSEEN, what
        elif need is None:
            continue  # a route this test does not know: held to the 404 rule (above) and the owner case
        elif expect:
            assert_let_in(resp, what)
        else:
            assert resp.status_code == 403 and code == "forbidden", what


def test_the_owner_and_admins_may_do_everything_on_a_form(app: Flask, api: Api, svc: Services) -> None:
    owner = api.as_(make_user_key(svc, "owner", "editor", "manage"))
    for caller in (owner, api):  # an editor on the form they created; an admin on someone else's
        ids = world(owner, svc)
        assert svc.store.get_form(ids["form_id"])["owner_id"] == svc.store.get_user_by_name("owner")["id"]
        for method, rule in form_routes(app):
            resp = call(caller, method, rule, ids)
            assert_let_in(resp, f"{method} {rule}")


def assert_let_in(resp: Any, what: str) -> None:
    """Past the access check: no 401/403, no 'not found' for the form, no server error (but a missing model)."""
    code = (resp.get_json(silent=True) or {}).get("error", {}).get("code")
    what = f"{what} -> {resp.status_code} {resp.get_json(silent=True)}"
    assert resp.status_code not in (401, 403) and code not in UNSEEN, what
    assert resp.status_code < 500 or code == "model_unavailable", what


def test_form_scoped_keys_work_inside_the_shares_only(api: Api, svc: Services) -> None:
    a = api.post("/api/v1/forms", {"title": "A", "schema": SAMPLE_SCHEMA}).json
    b = api.post("/api/v1/forms", {"title": "B", "schema": SAMPLE_SCHEMA}).json
    key_a = api.as_(make_user_key(svc, "ed", "editor", "write", [a["id"], b["id"]]))
    assert key_a.get("/api/v1/forms").json["items"] == []  # the key names both, the user sees neither
    assert key_a.get(f"/api/v1/forms/{a['id']}").status_code == 404
    grant(api, svc, a["id"], "ed", "manager")
    assert [f["id"] for f in key_a.get("/api/v1/forms").json["items"]] == [a["id"]]
    assert key_a.post(f"/api/v1/forms/{a['id']}/submissions", {"answers": VALID}).status_code == 201
    assert key_a.put(f"/api/v1/forms/{a['id']}", {"title": "A2", "schema": SAMPLE_SCHEMA}).status_code == 403
    only_b = api.as_(make_user_key(svc, "ed", "editor", "manage", [b["id"]]))
    resp = only_b.get(f"/api/v1/forms/{a['id']}")  # shared with the user, outside this key's forms
    assert resp.status_code == 403 and resp.json["error"]["code"] == "forbidden"


def test_lists_show_only_owned_or_shared_forms_and_the_cache_never_leaks(api: Api, svc: Services) -> None:
    alice = api.as_(make_user_key(svc, "alice", "editor", "manage"))
    bob = api.as_(make_user_key(svc, "bob", "viewer", "read"))
    mine = alice.post("/api/v1/forms", {"title": "Alice's", "schema": SAMPLE_SCHEMA}).json
    admins = api.post("/api/v1/forms", {"title": "Admin's", "schema": SAMPLE_SCHEMA}).json
    assert [f["id"] for f in alice.get("/api/v1/forms").json["items"]] == [mine["id"]]
    assert bob.get("/api/v1/forms").json["items"] == []
    assert {f["id"] for f in api.get("/api/v1/forms").json["items"]} >= {mine["id"], admins["id"]}

    assert alice.get(f"/api/v1/forms/{mine['id']}").status_code == 200  # now in the form cache
    assert svc.cache.get("form", mine["id"]) is not None
    unseen = bob.get(f"/api/v1/forms/{mine['id']}")
    assert unseen.status_code == 404 and unseen.json["error"]["code"] == "form_not_found"
    grant(alice, svc, mine["id"], "bob", "viewer")
    assert bob.get(f"/api/v1/forms/{mine['id']}").json["title"] == "Alice's"
    assert [f["id"] for f in bob.get("/api/v1/forms").json["items"]] == [mine["id"]]
    assert alice.delete(f"/api/v1/forms/{mine['id']}/shares/{svc.store.get_user_by_name('bob')['id']}"
                        ).status_code == 204
    assert bob.get(f"/api/v1/forms/{mine['id']}").status_code == 404  # revoked: at once, cache or not
    assert bob.get("/api/v1/forms").json["items"] == []


def test_shares_api_grants_changes_lists_and_revokes(api: Api, svc: Services) -> None:
    owner = api.as_(make_user_key(svc, "olga", "editor", "manage"))
    form = owner.post("/api/v1/forms", {"title": "F", "schema": SAMPLE_SCHEMA}).json
    make_user_key(svc, "mona", "editor", "manage")
    make_user_key(svc, "vic", "viewer", "read")
    mona, vic = (svc.store.get_user_by_name(n)["id"] for n in ("mona", "vic"))
    base = f"/api/v1/forms/{form['id']}/shares"

    created = owner.put(f"{base}/{mona}", {"role": "manager"})
    assert created.status_code == 201 and created.json["role"] == "manager" and created.json["username"] == "mona"
    manager = api.as_(make_user_key(svc, "mona", "editor", "manage"))
    assert manager.put(f"{base}/{vic}", {"role": "editor"}).status_code == 201  # managers manage shares
    changed = manager.put(f"{base}/{vic}", {"role": "viewer"})
    assert changed.status_code == 200 and changed.json["role"] == "viewer"
    listed = owner.get(base).json
    assert listed["owner_id"] == svc.store.get_user_by_name("olga")["id"]
    assert [(s["username"], s["role"]) for s in listed["items"]] == [("mona", "manager"), ("vic", "viewer")]
    assert owner.get(f"{base}/{vic}").json["granted_by"] == svc.store.get_user_by_name("mona")["id"]
    viewer = api.as_(make_user_key(svc, "vic", "viewer", "read"))
    assert viewer.get(base).status_code == 403

    before = svc.store.list_shares(form["id"])
    bad_role = owner.put(f"{base}/{vic}", {"role": "owner"})
    assert bad_role.status_code == 422 and bad_role.json["error"]["details"][0]["pointer"] == "/role"
    unknown = owner.put(f"{base}/nobody", {"role": "viewer"})
    assert unknown.status_code == 404 and unknown.json["error"]["details"][0]["pointer"] == "user_id"
    self_share = owner.put(f"{base}/{listed['owner_id']}", {"role": "viewer"})
    assert self_share.status_code == 400 and self_share.json["error"]["code"] == "share_owner"
    assert owner.put(f"{base}/{vic}", None, data="nope", content_type="text/plain").status_code == 415
    assert svc.store.list_shares(form["id"]) == before  # nothing written by any of them

    assert owner.delete(f"{base}/{vic}").status_code == 204
    gone = owner.delete(f"{base}/{vic}")
    assert gone.status_code == 404 and gone.json["error"]["code"] == "share_not_found"
    assert viewer.get(f"/api/v1/forms/{form['id']}").status_code == 404
    actions = [e["action"] for e in api.get("/api/v1/audit?limit=1000").json["items"]]
    assert actions.count("form.share") == 3 and actions.count("form.unshare") == 1


def test_tasks_of_a_form_the_user_cannot_see_are_404(api: Api, svc: Services) -> None:
    form = api.post("/api/v1/forms", {"title": "T", "schema": SAMPLE_SCHEMA}).json
    ed = api.as_(make_user_key(svc, "ted", "editor", "manage"))
    ted = svc.store.get_user_by_name("ted")["id"]
    grant(api, svc, form["id"], "ted", "editor")
    now = now_iso()
    task_id = new_id()
    svc.store.put_task({  # type: ignore[attr-defined]
        "id": task_id, "actor": "fill", "queue": "ai", "state": "queued", "progress": 0.0, "attempts": 0,
        "max_retries": 3, "message": {"message_id": task_id, "args": [form["id"], "text"],
                                      "options": {"form_id": form["id"], "created_by": ted}},
        "created_by": ted, "cancel_requested": 0, "created_at": now, "enqueued_at": now, "updated_at": now})
    assert ed.get(f"/api/v1/tasks/{task_id}").json["id"] == task_id
    assert [t["id"] for t in ed.get("/api/v1/tasks").json["items"]] == [task_id]
    grant(api, svc, form["id"], "ted", "viewer")  # seen, no longer written: no retry or cancel
    assert ed.get(f"/api/v1/tasks/{task_id}").status_code == 200
    denied = ed.post(f"/api/v1/tasks/{task_id}/cancel")
    assert denied.status_code == 403 and svc.store.get_task(task_id)["state"] == "queued"  # type: ignore[attr-defined]
    assert api.delete(f"/api/v1/forms/{form['id']}/shares/{ted}").status_code == 204
    gone = ed.get(f"/api/v1/tasks/{task_id}")
    assert gone.status_code == 404 and gone.json["error"]["code"] == "task_not_found"
    assert ed.get("/api/v1/tasks").json["items"] == []
    assert ed.post(f"/api/v1/tasks/{task_id}/cancel").status_code == 404
    assert api.get(f"/api/v1/tasks/{task_id}").status_code == 200  # admins see every task


def test_an_export_of_a_form_no_longer_shared_cannot_be_downloaded(api: Api, svc: Services) -> None:
    from app.exports.service import ExportService

    form = api.post("/api/v1/forms", {"title": "X", "schema": SAMPLE_SCHEMA}).json
    ed = api.as_(make_user_key(svc, "xena", "editor", "manage"))
    grant(api, svc, form["id"], "xena", "viewer")
    xena = svc.store.get_user_by_name("xena")["id"]
    meta = ExportService(svc.store, svc.settings).create(form, "csv", {}, xena, frozenset(), new_id())
    url = f"/api/v1/exports/{meta['id']}/download"
    assert ed.get(url).json["error"]["code"] == "export_not_ready"  # theirs, not done yet
    assert api.delete(f"/api/v1/forms/{form['id']}/shares/{xena}").status_code == 204
    gone = ed.get(url)
    assert gone.status_code == 404 and gone.json["error"]["code"] == "export_not_found"
