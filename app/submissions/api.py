"""Submissions: create (idempotent), list (cursor + filters), get, patch, delete, restore."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.errors import BadRequest, NotFound
from app.forms.sensitive import redact
from app.http import hidden_fields, json_body, json_response, principal, require_form, services
from app.openapi import LIST_PARAMS, Operation
from app.store import Record
from app.submissions.query import parse_list_args
from app.submissions.service import CREATE_BODY, PATCH_BODY, public_submission

bp = Blueprint("submissions", __name__, url_prefix="/api/v1")
IDEMPOTENCY_MAX = 255


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= IDEMPOTENCY_MAX:
        raise BadRequest.field("Idempotency-Key", f"Idempotency-Key must be 1 to {IDEMPOTENCY_MAX} characters")
    return key


@bp.post("/forms/<form_id>/submissions")
def create_submission(form_id: str) -> Response:
    me = principal()
    form = require_form(form_id, "write")
    svc = services()
    key = idempotency_key()
    body = json_body()
    result = svc.submissions.create(form, body, me.user_id, key, f"{form_id}:{me.user_id}")
    headers = {"Location": f"/api/v1/submissions/{result.body['id']}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(result.body, result.status_code, headers=headers)


@bp.get("/forms/<form_id>/submissions")
def list_submissions(form_id: str) -> Response:
    form = require_form(form_id, "read")
    svc = services()
    hide = hidden_fields(form)
    query, include_total = parse_list_args(request.args, form, svc.cursors, hide)
    rows, total = svc.submissions.list(query, include_total)
    body: Record = {"items": [public_submission(r, hide) for r in rows], "next_cursor": None}
    if len(rows) == query.limit:
        body["next_cursor"] = svc.cursors.encode(rows[-1]["created_at"], rows[-1]["id"], form_id)
    if include_total:
        body["total"] = total
    return json_response(body)


def _load(sub_id: str, need: str) -> tuple[Record, Record]:
    """The submission and its form, if the caller may ``need`` the form (an unseen form: 404 here too)."""
    sub = services().submissions.get(sub_id)
    try:
        form = require_form(sub["form_id"], need)
    except NotFound as exc:
        raise NotFound(f"submission {sub_id} not found", code="submission_not_found") from exc
    return sub, form


@bp.get("/submissions/<sub_id>")
def get_submission(sub_id: str) -> Response:
    sub, form = _load(sub_id, "read")
    return json_response(public_submission(sub, hidden_fields(form)), cacheable=True)


@bp.patch("/submissions/<sub_id>")
def patch_submission(sub_id: str) -> Response:
    sub, form = _load(sub_id, "write")
    updated = services().submissions.patch(sub, json_body(), principal().user_id)
    return json_response(public_submission(updated, hidden_fields(form)))


@bp.delete("/submissions/<sub_id>")
def delete_submission(sub_id: str) -> Response:
    sub, _ = _load(sub_id, "write")
    services().submissions.delete(sub, principal().user_id)
    return Response(status=204)


@bp.post("/submissions/<sub_id>/restore")
def restore_submission(sub_id: str) -> Response:
    sub, form = _load(sub_id, "write")
    restored = services().submissions.restore(sub, principal().user_id)
    return json_response(public_submission(restored, hidden_fields(form)))


@bp.get("/submissions/<sub_id>/revisions")
def list_revisions(sub_id: str) -> Response:
    _, form = _load(sub_id, "read")
    hide = hidden_fields(form)
    revisions = services().submissions.revisions(sub_id)
    items = [{**r, "answers": redact(r["answers"], hide)} for r in revisions]
    return json_response({"items": items})


_SUBMISSION_EXAMPLE = {"id": "01JD8WK4D6F8H0K2M4P6R8T0V2", "form_id": "01JD8WF0A2C4E6G8J0L2N4Q6S8", "form_version": 1,
                       "status": "submitted", "created_at": "2026-03-14T10:02:11.204518Z",
                       "answers": {"email": "dana@example.org", "topic": "delivery"},
                       "updated_at": "2026-03-14T10:02:11.204518Z", "deleted_at": None, "rev": 1, "meta": {}}
OPERATIONS = (
    Operation("post", "/api/v1/forms/{form_id}/submissions", "submissions", "Submit answers (Idempotency-Key honoured)",
              201, CREATE_BODY.schema, request_example={"answers": {"email": "dana@example.org", "topic": "delivery"}},
              response_example=_SUBMISSION_EXAMPLE),
    Operation("get", "/api/v1/forms/{form_id}/submissions", "submissions", "List submissions", query=LIST_PARAMS,
              response_example={"items": [_SUBMISSION_EXAMPLE], "next_cursor": None}),
    Operation("get", "/api/v1/submissions/{sub_id}", "submissions", "Get a submission",
              response_example=_SUBMISSION_EXAMPLE),
    Operation("patch", "/api/v1/submissions/{sub_id}", "submissions",
              "Change answers or review status (a revision is kept)", body=PATCH_BODY.schema,
              request_example={"status": "approved", "note": "checked by phone"},
              response_example={**_SUBMISSION_EXAMPLE, "status": "approved", "rev": 2}),
    Operation("delete", "/api/v1/submissions/{sub_id}", "submissions", "Soft-delete a submission", 204),
    Operation("post", "/api/v1/submissions/{sub_id}/restore", "submissions", "Restore a soft-deleted submission",
              response_example=_SUBMISSION_EXAMPLE),
    Operation("get", "/api/v1/submissions/{sub_id}/revisions", "submissions", "Earlier revisions"),
)
