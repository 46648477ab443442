"""The last active administrator cannot be deactivated, demoted or deleted (409 last_admin, nothing written).

Found by fuzzing: PATCH /users/{own id} {"active": false} locked the only
admin out of the instance for good.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from app.services import Services
from tests.conftest import Api, make_user_key


def root(svc: Services) -> dict[str, Any]:
    return svc.store.get_user_by_name("root")  # type: ignore[return-value]


def audit_actions(api: Api) -> list[str]:
    return [e["action"] for e in api.get("/api/v1/audit?limit=1000").json["items"]]


@pytest.mark.parametrize(("change", "pointer"), [
    ({"active": False}, "/active"),
    ({"role": "editor"}, "/role"),
    ({"role": "viewer", "password": "a-new-password"}, "/role"),
])
def test_the_only_admin_cannot_deactivate_or_demote_itself(api: Api, svc: Services, change: dict[str, Any],
                                                            pointer: str) -> None:
    before = root(svc)
    resp = api.patch(f"/api/v1/users/{before['id']}", change)
    assert resp.status_code == 409, resp.json
    error = resp.json["error"]
    assert error["code"] == "last_admin" and "last active administrator" in error["message"]
    assert error["details"][0]["pointer"] == pointer and error["request_id"]
    assert root(svc) == before  # nothing written, the password neither
    assert "user.update" not in audit_actions(api)
    assert api.get("/api/v1/users").status_code == 200  # still in


def test_the_only_admin_cannot_delete_itself(api: Api, svc: Services) -> None:
    me = root(svc)
    resp = api.delete(f"/api/v1/users/{me['id']}")
    assert resp.status_code == 409 and resp.json["error"]["code"] == "last_admin"
    assert root(svc) == me and api.get("/api/v1/users").status_code == 200
    assert "user.delete" not in audit_actions(api)


def test_an_inactive_admin_does_not_count_and_a_second_active_one_does(api: Api, svc: Services) -> None:
    me = root(svc)
    ops = api.post("/api/v1/users", {"username": "ops", "password": "password123", "role": "admin"}).json
    assert api.patch(f"/api/v1/users/{ops['id']}", {"active": False}).status_code == 200
    assert api.patch(f"/api/v1/users/{me['id']}", {"active": False}).status_code == 409  # ops is inactive

    assert api.patch(f"/api/v1/users/{ops['id']}", {"active": True}).status_code == 200
    other = api.as_(make_user_key(svc, "ops", "admin", "manage"))
    assert other.patch(f"/api/v1/users/{me['id']}", {"role": "editor"}).json["role"] == "editor"
    last = other.patch(f"/api/v1/users/{ops['id']}", {"active": False})  # now ops is the last one
    assert last.status_code == 409 and last.json["error"]["code"] == "last_admin"
    deleted = other.delete(f"/api/v1/users/{ops['id']}")
    assert deleted.status_code == 409 and deleted.json["error"]["code"] == "last_admin"
    assert svc.store.get_user(ops["id"])["active"] == 1  # type: ignore[index]
    assert other.delete(f"/api/v1/users/{me['id']}").status_code == 204  # demoted root may go


def test_an_admin_that_is_not_the_last_still_cannot_delete_itself(api: Api, svc: Services) -> None:
    api.post("/api/v1/users", {"username": "ops", "password": "password123", "role": "admin"})
    resp = api.delete(f"/api/v1/users/{root(svc)['id']}")
    assert resp.status_code == 400 and resp.json["error"]["code"] == "self_delete"
    assert root(svc) is not None


def test_two_admins_demoting_each_other_at_once_leave_one_admin(api: Api, svc: Services) -> None:
    """The check and the write are one SQLite transaction: both requests cannot win."""
    ops = api.post("/api/v1/users", {"username": "ops", "password": "password123", "role": "admin"}).json
    clients = {root(svc)["id"]: api.as_(make_user_key(svc, "ops", "admin", "manage")), ops["id"]: api}
    start = threading.Barrier(2)
    statuses: list[int] = []

    def demote(target: str, client: Api) -> None:
        mine = Api(client.client.application.test_client(), client.token)
        start.wait(timeout=10)
        statuses.append(mine.patch(f"/api/v1/users/{target}", {"role": "editor"}).status_code)

    threads = [threading.Thread(target=demote, args=item) for item in clients.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(statuses)[0] == 200 and sorted(statuses)[1] in (403, 409), statuses
    admins = [u for u in svc.store.list_users() if u["role"] == "admin" and u["active"]]
    assert len(admins) == 1
