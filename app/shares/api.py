"""``/api/v1/forms/{id}/shares``: list, grant (PUT), read and revoke per-form shares."""

from __future__ import annotations

from flask import Blueprint, Response

from app.http import json_body, json_response, principal, require_form, services
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


SHARE_OPERATIONS = [
    ("get", "/api/v1/forms/{form_id}/shares", "shares", "The form's owner and its shares (managers)", 200, None,
     False, []),
    ("get", "/api/v1/forms/{form_id}/shares/{user_id}", "shares", "One user's share of the form", 200, None,
     False, []),
    ("put", "/api/v1/forms/{form_id}/shares/{user_id}", "shares",
     "Grant or change a user's role on the form: viewer, editor or manager (201 when new)", (200, 201),
     SHARE_BODY.schema, False, []),
    ("delete", "/api/v1/forms/{form_id}/shares/{user_id}", "shares", "Revoke a user's share", 204, None, False,
     []),
]


def _document() -> None:
    from app.openapi import EXTRA_OPERATIONS

    EXTRA_OPERATIONS.extend(op for op in SHARE_OPERATIONS if op not in EXTRA_OPERATIONS)


_document()
