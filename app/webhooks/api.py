"""Webhook endpoints, their delivery log and redelivery (manual and bulk)."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.dispatch import Call
from app.errors import BadRequest
from app.http import json_body, json_response, principal, require_form, services
from app.openapi import Operation
from app.webhooks.service import (
    BULK_BODY,
    WEBHOOK_BODY,
    WEBHOOK_PATCH,
    WebhookService,
    public_delivery,
    public_webhook,
)

bp = Blueprint("webhooks", __name__)


def _hooks() -> WebhookService:
    svc = services()
    return WebhookService(svc.store, svc.settings)


def _enqueue(delivery_ids: list[str]) -> None:
    """Send the deliveries now, or through the outbox while Redis is down (the 202 stands either way)."""
    services().dispatch.enqueue_many([Call("webhook.deliver", (d,)) for d in delivery_ids])


@bp.post("/api/v1/forms/<form_id>/webhooks")
def create_webhook(form_id: str) -> Response:
    me = principal()
    require_form(form_id, "manage")
    hook = _hooks().create(form_id, json_body(), me)
    return json_response(public_webhook(hook, with_secret=True), 201,
                         headers={"Location": f"/api/v1/webhooks/{hook['id']}"})


@bp.get("/api/v1/forms/<form_id>/webhooks")
def list_webhooks(form_id: str) -> Response:
    require_form(form_id, "manage")
    return json_response({"items": [public_webhook(h) for h in _hooks().list(form_id)]})


@bp.get("/api/v1/webhooks/<hook_id>")
def get_webhook(hook_id: str) -> Response:
    hook = _hooks().get(hook_id)
    require_form(hook["form_id"], "manage")
    return json_response(public_webhook(hook, with_secret=True))


@bp.patch("/api/v1/webhooks/<hook_id>")
def update_webhook(hook_id: str) -> Response:
    me = principal()
    require_form(_hooks().get(hook_id)["form_id"], "manage")
    body = json_body()
    hook = _hooks().update(hook_id, body, me)
    if isinstance(body, dict) and body.get("active") is True:
        _start_lane(hook_id)
    return json_response(public_webhook(hook))


def _start_lane(hook_id: str) -> None:
    """Re-enabled: send what waited. Without Redis the relay's sweep finds those deliveries due anyway."""
    services().dispatch.nudge(Call("webhook.lane", (hook_id,)))


@bp.delete("/api/v1/webhooks/<hook_id>")
def delete_webhook(hook_id: str) -> Response:
    me = principal()
    require_form(_hooks().get(hook_id)["form_id"], "manage")
    _hooks().delete(hook_id, me)
    return Response(status=204)


@bp.get("/api/v1/webhooks/<hook_id>/deliveries")
def list_deliveries(hook_id: str) -> Response:
    require_form(_hooks().get(hook_id)["form_id"], "manage")
    try:
        limit = int(request.args.get("limit", "50"))
    except ValueError as exc:
        raise BadRequest.field("limit", "limit must be an integer") from exc
    rows, cursor = _hooks().deliveries(hook_id, request.args.get("state"), request.args.get("cursor"), limit)
    return json_response({"items": [public_delivery(d) for d in rows], "next_cursor": cursor})


@bp.post("/api/v1/deliveries/<delivery_id>/redeliver")
def redeliver(delivery_id: str) -> Response:
    delivery = _hooks().prepare_redelivery(delivery_id, principal())
    _enqueue([delivery["id"]])
    return json_response(public_delivery(delivery), 202)


@bp.post("/api/v1/webhooks/<hook_id>/redeliver")
def redeliver_bulk(hook_id: str) -> Response:
    body = json_body() if request.get_data(cache=True) else {}
    picked = _hooks().prepare_bulk(hook_id, body, principal())
    _enqueue([d["id"] for d in picked])
    return json_response({"count": len(picked), "delivery_ids": [d["id"] for d in picked]}, 202)


OPERATIONS = (
    Operation("post", "/api/v1/forms/{form_id}/webhooks", "webhooks", "Add a webhook endpoint; the secret is returned",
              201, WEBHOOK_BODY.schema,
              request_example={"url": "https://hooks.example.org/fms", "events": ["submission.created"],
                               "description": "CRM sync"}),
    Operation("get", "/api/v1/forms/{form_id}/webhooks", "webhooks", "List a form's webhook endpoints"),
    Operation("get", "/api/v1/webhooks/{hook_id}", "webhooks", "Get an endpoint (with its signing secret)"),
    Operation("patch", "/api/v1/webhooks/{hook_id}", "webhooks",
              "Change an endpoint; `active: true` re-enables it and sends the deliveries that waited",
              body=WEBHOOK_PATCH.schema, request_example={"active": True}),
    Operation("delete", "/api/v1/webhooks/{hook_id}", "webhooks", "Delete an endpoint", 204),
    Operation("get", "/api/v1/webhooks/{hook_id}/deliveries", "webhooks",
              "The endpoint's delivery log, newest first: state, attempts, last status and error, `next_attempt_at`",
              query=(("state", "string", "pending, retrying, succeeded, failed or skipped."),
                     ("limit", "integer", "Page size, 1 to 1000."), ("cursor", "string", "From `next_cursor`."))),
    Operation("post", "/api/v1/webhooks/{hook_id}/redeliver", "webhooks",
              "Bulk redelivery of an endpoint's deliveries in a state (default failed)", 202, BULK_BODY.schema,
              optional_body=True, request_example={"state": "failed", "limit": 100},
              response_example={"count": 1, "delivery_ids": ["01JD8X5C8E0G2J4L6N8Q0S2U4W"]}),
    Operation("post", "/api/v1/deliveries/{delivery_id}/redeliver", "webhooks", "Send one delivery again", 202),
)
