"""Public links: anonymous submit, expiry, quota, rate limit, spam quarantine."""

from __future__ import annotations

from typing import Any

from app.services import Services
from app.store import SubmissionQuery
from app.util import now_iso
from tests.conftest import Api

ANSWERS = {"name": "Anon", "email": "anon@example.org"}


def _link(api: Api, form: dict[str, Any], **body: Any) -> dict[str, Any]:
    resp = api.post(f"/api/v1/forms/{form['id']}/links", body)
    assert resp.status_code == 201, resp.json
    return resp.json  # type: ignore[no-any-return]


def test_anonymous_submit_through_a_link(api: Api, client: Any, form: dict[str, Any]) -> None:
    link = _link(api, form)
    assert link["token"].startswith("fml_")
    shown = client.get(f"/api/v1/public/{link['token']}/form")
    assert shown.status_code == 200 and shown.json["id"] == form["id"]
    resp = client.post(f"/api/v1/public/{link['token']}/submissions", json={"answers": ANSWERS})
    assert resp.status_code == 201 and resp.json["status"] == "submitted"
    other = client.get(f"/api/v1/forms/{form['id']}", headers={"Authorization": f"Bearer {link['token']}"})
    assert other.status_code == 401  # the link grants nothing else


def test_quota_is_atomic_and_not_spent_by_invalid_input_or_replays(api: Api, client: Any, form: dict[str, Any],
                                                                   svc: Services) -> None:
    link = _link(api, form, quota=2)
    url = f"/api/v1/public/{link['token']}/submissions"
    assert client.post(url, json={"answers": {"name": 1}}).status_code == 422
    headers = {"Idempotency-Key": "k1"}
    assert client.post(url, json={"answers": ANSWERS}, headers=headers).status_code == 201
    assert client.post(url, json={"answers": ANSWERS}, headers=headers).status_code == 201  # replay
    assert client.post(url, json={"answers": ANSWERS}).status_code == 201
    spent = client.post(url, json={"answers": ANSWERS})
    assert spent.status_code == 403 and spent.json["error"]["code"] == "link_quota_exhausted"
    assert svc.store.count_submissions(SubmissionQuery(form_id=form["id"])) == 2


def test_expired_and_revoked_links(api: Api, client: Any, form: dict[str, Any], svc: Services) -> None:
    expired = _link(api, form, expires_at=now_iso(-60))
    resp = client.post(f"/api/v1/public/{expired['token']}/submissions", json={"answers": ANSWERS})
    assert resp.status_code == 403 and resp.json["error"]["code"] == "link_expired"
    live = _link(api, form)
    assert api.delete(f"/api/v1/forms/{form['id']}/links/{live['id']}").status_code == 204
    resp = client.post(f"/api/v1/public/{live['token']}/submissions", json={"answers": ANSWERS})
    assert resp.status_code == 404
    assert svc.store.count_submissions(SubmissionQuery(form_id=form["id"])) == 0


def test_public_submissions_are_rate_limited_per_ip(api: Api, client: Any, form: dict[str, Any],
                                                    svc: Services) -> None:
    link = _link(api, form)
    url = f"/api/v1/public/{link['token']}/submissions"
    for _ in range(svc.settings.public_rate_limit):
        assert client.post(url, json={"answers": ANSWERS}).status_code == 201
    limited = client.post(url, json={"answers": ANSWERS})
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert client.post(url, json={"answers": ANSWERS}, environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 201


def test_spam_is_quarantined_and_fires_no_event(api: Api, client: Any, form: dict[str, Any], svc: Services) -> None:
    link = _link(api, form)
    spam = {**ANSWERS, "name": "buy http://a.example http://b.example http://c.example"}
    resp = client.post(f"/api/v1/public/{link['token']}/submissions", json={"answers": spam})
    assert resp.status_code == 201 and resp.json["status"] == "quarantined"
    assert svc.store.pending_events(10) == []
    released = api.patch(f"/api/v1/submissions/{resp.json['id']}", {"status": "submitted"})
    assert released.status_code == 200
    assert [e["topic"] for e in svc.store.pending_events(10)] == ["submission.created"]
