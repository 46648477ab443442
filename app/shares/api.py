"""``/api/v1/forms/{id}/shares``: list, grant (PUT), read and revoke per-form shares."""

from __future__ import annotations

from flask import Blueprint, Response

from app.http import json_body, json_response, principal, require_form, services
from app.openapi import Operation
from app.shares.service import SHARE_BODY, ShareService

bp = Blueprint("shares", __name__, url_prefix="/api/v1/forms")


def _shares() -> ShareService:
    return ShareService(services().store)


@bp.get("/<form_id>/shares")
def list_shares(form_id: str) -> Response:
    form = require_form(form_id, "manage")
    return json_response({"owner_id": form.get("owner_id"), "items": _shares().list(form)})


@bp.get("/<form_id>/shares/<user_id>")
def get_share(form_id: str, user_id: str) -> Response:
    return json_response(_shares().get(require_form(form_id, "manage"), user_id))


@bp.put("/<form_id>/shares/<user_id>")
def put_share(form_id: str, user_id: str) -> Response:
    form = require_form(form_id, "manage")
    share, created = _shares().put(form, user_id, json_body(), principal())
    return json_response(share, 201 if created else 200)


@bp.delete("/<form_id>/shares/<user_id>")
def delete_share(form_id: str, user_id: str) -> Response:
    _shares().delete(require_form(form_id, "manage"), user_id, principal())
    return Response(status=204)


_SHARE_EXAMPLE = {"form_id": "01JD8WF0A2C4E6G8J0L2N4Q6S8", "user_id": "01JD8W9T3K6N2P4R7V1X5Z8B0C",
                  "username": "alice", "role": "editor", "granted_by": "01JD8W7P1H4K7M0P3S6V9Y2B5E",
                  "created_at": "2026-03-14T09:40:00.000000Z", "updated_at": "2026-03-14T09:40:00.000000Z"}
OPERATIONS = (
    Operation("get", "/api/v1/forms/{form_id}/shares", "shares", "The form's owner and its shares (managers)",
              response_example={"owner_id": _SHARE_EXAMPLE["granted_by"], "items": [_SHARE_EXAMPLE]}),
    Operation("get", "/api/v1/forms/{form_id}/shares/{user_id}", "shares", "One user's share of the form",
              response_example=_SHARE_EXAMPLE),
    Operation("put", "/api/v1/forms/{form_id}/shares/{user_id}", "shares",
              "Grant or change a user's role on the form: viewer, editor or manager (201 when new)", (200, 201),
              SHARE_BODY.schema, request_example={"role": "editor"}, response_example=_SHARE_EXAMPLE),
    Operation("delete", "/api/v1/forms/{form_id}/shares/{user_id}", "shares", "Revoke a user's share", 204),
)
