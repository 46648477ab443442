"""``/api/v1/forms``: create, read (cached), replace (new version), delete."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.errors import BadRequest
from app.forms.service import FORM_BODY, public_form
from app.http import int_arg, json_body, json_response, principal, require_form, services
from app.openapi import Operation

bp = Blueprint("forms", __name__, url_prefix="/api/v1/forms")


@bp.post("")
def create_form() -> Response:
    me = principal()
    me.require("manage")
    form = services().forms.create(json_body(), me)
    return json_response(public_form(form), 201, headers={"Location": f"/api/v1/forms/{form['id']}"})


@bp.get("")
def list_forms() -> Response:
    me = principal()
    me.require("read")
    limit = int_arg("limit", 50)
    forms, next_cursor = services().forms.list(request.args.get("cursor"), limit, me)
    return json_response({"items": [public_form(f) for f in forms], "next_cursor": next_cursor})


@bp.get("/<form_id>")
def get_form(form_id: str) -> Response:
    form = require_form(form_id, "read")
    return json_response(raw=services().forms.cached_json(form), cacheable=True)


@bp.put("/<form_id>")
def replace_form(form_id: str) -> Response:
    me = principal()
    require_form(form_id, "manage")
    expected = None
    if request.headers.get("If-Match"):
        raw = request.headers["If-Match"].strip('"W/ ')
        if not raw.isdigit():
            raise BadRequest.field("If-Match", "If-Match must carry the form version you edited")
        expected = int(raw)
    form = services().forms.replace(form_id, json_body(), me, expected)
    return json_response(public_form(form))


@bp.delete("/<form_id>")
def delete_form(form_id: str) -> Response:
    me = principal()
    require_form(form_id, "manage")
    services().forms.delete(form_id, me)
    return Response(status=204)


@bp.get("/<form_id>/versions")
def list_versions(form_id: str) -> Response:
    require_form(form_id, "read")
    versions = services().forms.versions(form_id)
    return json_response({"items": [{**v, "id": v["form_id"]} for v in versions]}, cacheable=True)


@bp.get("/<form_id>/versions/<int:version>")
def get_version(form_id: str, version: int) -> Response:
    require_form(form_id, "read")
    v = services().forms.version(form_id, version)
    return json_response({**v, "id": v["form_id"]}, cacheable=True)


_SCHEMA_EXAMPLE = {"type": "object", "required": ["email"],
                   "properties": {"email": {"type": "string", "format": "email"},
                                  "topic": {"enum": ["billing", "delivery", "other"]},
                                  "message": {"type": "string", "maxLength": 2000}}}
_FORM_REQUEST = {"title": "Contact", "description": "Write to us", "schema": _SCHEMA_EXAMPLE,
                 "settings": {"ai": {"fill": True, "embed": True}}}
_FORM_EXAMPLE = {"id": "01JD8WF0A2C4E6G8J0L2N4Q6S8", "version": 1, "title": "Contact", "description": "Write to us",
                 "schema": _SCHEMA_EXAMPLE, "settings": {"ai": {"fill": True, "embed": True}}, "sensitive": [],
                 "created_at": "2026-03-14T09:26:53.589793Z", "updated_at": "2026-03-14T09:26:53.589793Z"}
OPERATIONS = (
    Operation("post", "/api/v1/forms", "forms", "Create a form", 201, FORM_BODY.schema,
              request_example=_FORM_REQUEST, response_example=_FORM_EXAMPLE),
    Operation("get", "/api/v1/forms", "forms", "List forms",
              query=(("limit", "integer", "Page size."), ("cursor", "string", "Cursor from `next_cursor`.")),
              response_example={"items": [_FORM_EXAMPLE], "next_cursor": None}),
    Operation("get", "/api/v1/forms/{form_id}", "forms", "Get a form (cached; ETag)", response_example=_FORM_EXAMPLE),
    Operation("put", "/api/v1/forms/{form_id}", "forms", "Replace a form, creating a new version",
              body=FORM_BODY.schema, request_example=_FORM_REQUEST, response_example={**_FORM_EXAMPLE, "version": 2}),
    Operation("delete", "/api/v1/forms/{form_id}", "forms", "Delete a form", 204),
    Operation("get", "/api/v1/forms/{form_id}/versions", "forms", "List a form's versions"),
    Operation("get", "/api/v1/forms/{form_id}/versions/{version}", "forms", "Get one version"),
)
