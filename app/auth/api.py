"""Login, users (admin only), API keys and the audit log."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app import audit
from app.errors import BadRequest, Forbidden
from app.http import int_arg, json_body, json_response, principal, public, services
from app.openapi import Operation
from app.store import Record
from app.validation import body_validator, check

bp = Blueprint("auth", __name__, url_prefix="/api/v1")

LOGIN_BODY = body_validator({
    "type": "object", "additionalProperties": False, "required": ["username", "password"],
    "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 100},
                   "password": {"type": "string", "minLength": 1, "maxLength": 1000}},
})
USER_BODY = body_validator({
    "type": "object", "additionalProperties": False, "required": ["username", "password", "role"],
    "properties": {"username": {"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,100}$"},
                   "password": {"type": "string", "minLength": 8, "maxLength": 1000},
                   "role": {"enum": ["admin", "editor", "viewer"]}},
})
USER_PATCH = body_validator({
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {"password": {"type": "string", "minLength": 8, "maxLength": 1000},
                   "role": {"enum": ["admin", "editor", "viewer"]}, "active": {"type": "boolean"}},
})
KEY_BODY = body_validator({
    "type": "object", "additionalProperties": False,
    "properties": {"name": {"type": "string", "maxLength": 100},
                   "scope": {"enum": ["read", "write", "manage"]},
                   "forms": {"type": "array", "items": {"type": "string"}, "maxItems": 1000},
                   "user_id": {"type": "string"}},
})


def public_user(user: Record) -> Record:
    fields = {k: user[k] for k in ("id", "username", "role", "created_at", "updated_at")}
    return fields | {"active": bool(user["active"])}


def public_key(cred: Record) -> Record:
    return {k: cred[k] for k in ("id", "name", "user_id", "scope", "forms", "prefix", "created_at", "revoked_at")}


@bp.post("/auth/login")
@public
def login() -> Response:
    body = json_body()
    check(LOGIN_BODY, body, "login is invalid")
    token, expires = services().auth.login(body["username"], body["password"], request.remote_addr or "?")
    return json_response({"token": token, "expires_at": expires}, 200)


@bp.post("/users")
def create_user() -> Response:
    me = principal()
    me.require_admin()
    body = json_body()
    check(USER_BODY, body, "user is invalid")
    user = services().auth.create_user(body["username"], body["password"], body["role"], me.user_id)
    return json_response(public_user(user), 201)


@bp.get("/users")
def list_users() -> Response:
    principal().require_admin()
    return json_response({"items": [public_user(u) for u in services().store.list_users()]})


@bp.patch("/users/<user_id>")
def update_user(user_id: str) -> Response:
    me = principal()
    me.require_admin()
    body = json_body()
    check(USER_PATCH, body, "user change is invalid")
    return json_response(public_user(services().auth.update_user(user_id, body, me.user_id)))


@bp.delete("/users/<user_id>")
def delete_user(user_id: str) -> Response:
    me = principal()
    me.require_admin()
    if user_id == me.user_id and not services().auth.is_last_active_admin(user_id):
        raise BadRequest("you cannot delete yourself", code="self_delete")
    services().auth.delete_user(user_id, me.user_id)  # the last active admin: 409 last_admin
    return Response(status=204)


@bp.post("/api-keys")
def create_key() -> Response:
    me = principal()
    me.require("manage")
    body = json_body()
    check(KEY_BODY, body, "api key is invalid")
    owner = body.get("user_id", me.user_id)
    if owner != me.user_id and not me.is_admin:
        raise Forbidden("only administrators create keys for other users")
    if me.forms is not None and not set(body.get("forms") or ()) <= me.forms:
        raise Forbidden("a form-scoped credential cannot create a key for other forms")
    key, record = services().auth.create_api_key(
        owner, body.get("scope", "read"), body.get("forms"), body.get("name", ""), me.user_id)
    return json_response({**public_key(record), "key": key}, 201)


@bp.get("/api-keys")
def list_keys() -> Response:
    me = principal()
    me.require("read")
    creds = services().store.list_credentials("apikey", None if me.is_admin else me.user_id)
    return json_response({"items": [public_key(c) for c in creds]})


@bp.delete("/api-keys/<key_id>")
def revoke_key(key_id: str) -> Response:
    me = principal()
    me.require("manage")
    services().auth.revoke_api_key(key_id, me)
    return Response(status=204)


@bp.get("/audit")
def list_audit() -> Response:
    principal().require_admin()
    after = int_arg("after", 0, 0, 2**62)
    limit = int_arg("limit", 100)
    rows = services().store.list_audit(after, limit)
    return json_response({"items": rows, "next_after": rows[-1]["seq"] if len(rows) == limit else None})


@bp.get("/audit/verify")
def verify_audit() -> Response:
    principal().require_admin()
    result = audit.verify(services().store)
    return json_response({"ok": result.ok, "checked": result.checked, "broken_seq": result.broken_seq,
                          "reason": result.reason})


_USER_EXAMPLE = {"id": "01JD8W9T3K6N2P4R7V1X5Z8B0C", "username": "alice", "role": "editor", "active": True,
                 "created_at": "2026-03-14T09:26:53.589793Z", "updated_at": "2026-03-14T09:26:53.589793Z"}
_KEY_EXAMPLE = {"id": "01JD8WB2M5Q8S1U4W7Y0A3C6E9", "name": "ci", "user_id": _USER_EXAMPLE["id"], "scope": "write",
                "forms": None, "prefix": "fms_3kQ9", "created_at": "2026-03-14T09:30:00.000000Z",
                "revoked_at": None}
OPERATIONS = (
    Operation("post", "/api/v1/auth/login", "auth", "Log in; returns a token valid 24 h", body=LOGIN_BODY.schema,
              public=True, request_example={"username": "alice", "password": "correct horse battery"},
              response_example={"token": "fmt_Yx3q…", "expires_at": "2026-03-15T09:26:53Z"}),
    Operation("post", "/api/v1/users", "users", "Create a user (admin)", 201, USER_BODY.schema,
              request_example={"username": "alice", "password": "correct horse battery", "role": "editor"},
              response_example=_USER_EXAMPLE),
    Operation("get", "/api/v1/users", "users", "List users (admin)", response_example={"items": [_USER_EXAMPLE]}),
    Operation("patch", "/api/v1/users/{user_id}", "users", "Change role, password or active flag (admin)",
              body=USER_PATCH.schema, request_example={"role": "editor"}, response_example=_USER_EXAMPLE),
    Operation("delete", "/api/v1/users/{user_id}", "users", "Delete a user and their keys (admin)", 204),
    Operation("post", "/api/v1/api-keys", "api-keys", "Create an API key; the key is returned once", 201,
              KEY_BODY.schema, request_example={"name": "ci", "scope": "write"},
              response_example={**_KEY_EXAMPLE, "key": "fms_3kQ9…"}),
    Operation("get", "/api/v1/api-keys", "api-keys", "List API keys (never the keys themselves)",
              response_example={"items": [_KEY_EXAMPLE]}),
    Operation("delete", "/api/v1/api-keys/{key_id}", "api-keys", "Revoke an API key", 204),
    Operation("get", "/api/v1/audit", "audit", "Audit log entries (admin)",
              query=(("after", "integer", "Entries after this sequence number."), ("limit", "integer", "Page size."))),
    Operation("get", "/api/v1/audit/verify", "audit", "Verify the audit hash chain (admin)",
              response_example={"ok": True, "checked": 42, "broken_seq": None, "reason": None}),
)
