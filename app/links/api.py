"""Public links: managed by form managers, used anonymously."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.forms.service import public_form
from app.http import json_body, json_response, principal, public, require_form, services
from app.links.service import LINK_BODY, looks_like_spam, public_link
from app.openapi import Operation
from app.submissions.api import idempotency_key
from app.submissions.service import CREATE_BODY

bp = Blueprint("links", __name__, url_prefix="/api/v1")


@bp.post("/forms/<form_id>/links")
def create_link(form_id: str) -> Response:
    me = principal()
    require_form(form_id, "manage")
    body = json_body() if request.content_length else {}
    token, link = services().links.create(form_id, body, me)
    return json_response({**public_link(link), "token": token, "url": f"/api/v1/public/{token}/submissions"}, 201)


@bp.get("/forms/<form_id>/links")
def list_links(form_id: str) -> Response:
    require_form(form_id, "manage")
    return json_response({"items": [public_link(lk) for lk in services().store.list_links(form_id)]})


@bp.delete("/forms/<form_id>/links/<link_id>")
def revoke_link(form_id: str, link_id: str) -> Response:
    me = principal()
    require_form(form_id, "manage")
    services().links.revoke(form_id, link_id, me)
    return Response(status=204)


@bp.get("/public/<token>/form")
@public
def public_form_view(token: str) -> Response:
    svc = services()
    link = svc.links.admit(token, request.remote_addr or "?")
    form = public_form(svc.forms.get(link["form_id"]))
    return json_response({k: form[k] for k in ("id", "version", "title", "description", "schema")})


@bp.post("/public/<token>/submissions")
@public
def public_submit(token: str) -> Response:
    svc = services()
    link = svc.links.admit(token, request.remote_addr or "?")
    key = idempotency_key()
    body = json_body()
    form = svc.forms.get(link["form_id"])
    scope = f"{form['id']}:link:{link['id']}"
    replay = key is not None and svc.store.get_idempotency(scope, key) is not None
    if not replay:  # invalid input and replays must not spend the link's quota
        svc.submissions.precheck(form, body)
        svc.links.take_quota(link)
    status = "quarantined" if looks_like_spam(body.get("answers")) else None
    result = svc.submissions.create(form, body, None, key, scope, status=status)
    return json_response(result.body, result.status_code)


_LINK_EXAMPLE = {"id": "01JD8WQ8H0K2M4P6R8T0V2X4Z6", "form_id": "01JD8WF0A2C4E6G8J0L2N4Q6S8", "prefix": "fml_Q2v9",
                 "expires_at": "2099-12-31T23:59:59Z", "quota": 500, "used": 0,
                 "created_at": "2026-03-14T09:50:00.000000Z", "revoked_at": None}
OPERATIONS = (
    Operation("post", "/api/v1/forms/{form_id}/links", "links", "Create a public link; the token is returned once", 201,
              LINK_BODY.schema, optional_body=True,
              request_example={"expires_at": "2099-12-31T23:59:59Z", "quota": 500},
              response_example={**_LINK_EXAMPLE, "token": "fml_Q2v9…",
                                "url": "/api/v1/public/fml_Q2v9…/submissions"}),
    Operation("get", "/api/v1/forms/{form_id}/links", "links", "List public links",
              response_example={"items": [_LINK_EXAMPLE]}),
    Operation("delete", "/api/v1/forms/{form_id}/links/{link_id}", "links", "Revoke a public link", 204),
    Operation("get", "/api/v1/public/{token}/form", "public", "The form behind a public link", public=True),
    Operation("post", "/api/v1/public/{token}/submissions", "public", "Anonymous submission through a link", 201,
              CREATE_BODY.schema, public=True, request_example={"answers": {"email": "dana@example.org"}}),
)
