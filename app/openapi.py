"""The OpenAPI 3.1 document, built from the same JSON Schemas that validate requests.

OpenAPI 3.1 speaks JSON Schema 2020-12, so each request body's schema here is
the very dict the endpoint validates with: the document cannot drift from the
code. A test checks that every route in the URL map is documented.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from app.auth.api import KEY_BODY, LOGIN_BODY, USER_BODY, USER_PATCH
from app.forms.service import FORM_BODY
from app.links.service import LINK_BODY
from app.submissions.service import CREATE_BODY, PATCH_BODY

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details", "request_id"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "details": {}, "request_id": {"type": ["string", "null"]}},
    }},
}
LIST_PARAMS = [
    ("limit", "integer", "Page size, 1 to 1000 (default 50)."),
    ("cursor", "string", "Opaque cursor from the previous page's `next_cursor`."),
    ("fields", "string", "Comma-separated answer fields to return."),
    ("created_after", "string", "ISO-8601 lower bound (exclusive)."),
    ("created_before", "string", "ISO-8601 upper bound (exclusive)."),
    ("include_total", "boolean", "Also return the total count of matches."),
    ("deleted", "boolean", "List soft-deleted submissions instead of live ones."),
    ("filter[status]", "string", "Comma-separated statuses."),
]
FILTER_PARAMS = [p for p in LIST_PARAMS if p[0] in {"created_after", "created_before", "filter[status]"}] + [
    ("filter[answers.<field>][<op>]", "string", "Typed answer filter as on the list (op: eq ne gt gte lt lte in)."),
]

# (method, path, tag, summary, success status (or statuses, e.g. (200, 201) for an upsert),
#  request schema, public?, query params)
Op = tuple[str, str, str, str, int | tuple[int, ...], dict[str, Any] | None, bool, list[tuple[str, str, str]]]
OPERATIONS: list[Op] = [
    ("get", "/health", "health", "Liveness", 200, None, True, []),
    ("get", "/ready", "health", "Readiness of store, Redis, workers and model", 200, None, True, []),
    ("get", "/metrics", "health", "Prometheus metrics (loopback clients only by default)", 200, None, True, []),
    ("get", "/openapi.json", "health", "This document", 200, None, True, []),
    ("get", "/docs", "health", "Human-readable API documentation", 200, None, True, []),
    ("post", "/api/v1/auth/login", "auth", "Log in; returns a token valid 24 h", 200, LOGIN_BODY.schema, True, []),
    ("post", "/api/v1/users", "users", "Create a user (admin)", 201, USER_BODY.schema, False, []),
    ("get", "/api/v1/users", "users", "List users (admin)", 200, None, False, []),
    ("patch", "/api/v1/users/{user_id}", "users", "Change role, password or active flag (admin)", 200,
     USER_PATCH.schema, False, []),
    ("delete", "/api/v1/users/{user_id}", "users", "Delete a user and their keys (admin)", 204, None, False, []),
    ("post", "/api/v1/api-keys", "api-keys", "Create an API key; the key is returned once", 201,
     KEY_BODY.schema, False, []),
    ("get", "/api/v1/api-keys", "api-keys", "List API keys (never the keys themselves)", 200, None, False, []),
    ("delete", "/api/v1/api-keys/{key_id}", "api-keys", "Revoke an API key", 204, None, False, []),
    ("get", "/api/v1/audit", "audit", "Audit log entries (admin)", 200, None, False,
     [("after", "integer", "Entries after this sequence number."), ("limit", "integer", "Page size.")]),
    ("get", "/api/v1/audit/verify", "audit", "Verify the audit hash chain (admin)", 200, None, False, []),
    ("post", "/api/v1/forms", "forms", "Create a form", 201, FORM_BODY.schema, False, []),
    ("get", "/api/v1/forms", "forms", "List forms", 200, None, False,
     [("limit", "integer", "Page size."), ("cursor", "string", "Cursor from `next_cursor`.")]),
    ("get", "/api/v1/forms/{form_id}", "forms", "Get a form (cached; ETag)", 200, None, False, []),
    ("put", "/api/v1/forms/{form_id}", "forms", "Replace a form, creating a new version", 200,
     FORM_BODY.schema, False, []),
    ("delete", "/api/v1/forms/{form_id}", "forms", "Delete a form", 204, None, False, []),
    ("get", "/api/v1/forms/{form_id}/versions", "forms", "List a form's versions", 200, None, False, []),
    ("get", "/api/v1/forms/{form_id}/versions/{version}", "forms", "Get one version", 200, None, False, []),
    ("post", "/api/v1/forms/{form_id}/submissions", "submissions",
     "Submit answers (Idempotency-Key honoured)", 201, CREATE_BODY.schema, False, []),
    ("get", "/api/v1/forms/{form_id}/submissions", "submissions", "List submissions", 200, None, False,
     LIST_PARAMS),
    ("get", "/api/v1/forms/{form_id}/analytics", "analytics",
     "Summary of every field by its type, status and drafts; cached, `as_of` says when computed", 200, None, False,
     [*FILTER_PARAMS, ("split_by", "string", "An enum or boolean field: the summary per top option."),
      ("format", "string", "`json` (default) or `csv` (one long table).")]),
    ("get", "/api/v1/forms/{form_id}/analytics/timeseries", "analytics",
     "Submissions per day, week or month in a time zone, by status", 200, None, False,
     [*FILTER_PARAMS, ("interval", "string", "`day` (default), `week` (from Monday) or `month`."),
      ("tz", "string", "IANA time zone of the buckets (default UTC).")]),
    ("get", "/api/v1/submissions/{sub_id}", "submissions", "Get a submission", 200, None, False, []),
    ("patch", "/api/v1/submissions/{sub_id}", "submissions",
     "Change answers or review status (a revision is kept)", 200, PATCH_BODY.schema, False, []),
    ("delete", "/api/v1/submissions/{sub_id}", "submissions", "Soft-delete a submission", 204, None, False, []),
    ("post", "/api/v1/submissions/{sub_id}/restore", "submissions", "Restore a soft-deleted submission", 200,
     None, False, []),
    ("get", "/api/v1/submissions/{sub_id}/revisions", "submissions", "Earlier revisions", 200, None, False, []),
    ("post", "/api/v1/forms/{form_id}/links", "links", "Create a public link; the token is returned once", 201,
     LINK_BODY.schema, False, []),
    ("get", "/api/v1/forms/{form_id}/links", "links", "List public links", 200, None, False, []),
    ("delete", "/api/v1/forms/{form_id}/links/{link_id}", "links", "Revoke a public link", 204, None, False, []),
    ("get", "/api/v1/public/{token}/form", "public", "The form behind a public link", 200, None, True, []),
    ("post", "/api/v1/public/{token}/submissions", "public", "Anonymous submission through a link", 201,
     CREATE_BODY.schema, True, []),
]
# Other packages (tasks, inference, etl) append their operations here at import.
EXTRA_OPERATIONS: list[Op] = []
# Request media types besides JSON, per (method, path): e.g. uploads as multipart or a raw stream.
EXTRA_REQUEST_CONTENT: dict[tuple[str, str], dict[str, Any]] = {}
# Operations whose view reads a missing body as {} (every field has a default), so the body is optional.
OPTIONAL_BODY = {("post", "/api/v1/forms/{form_id}/links"), ("post", "/api/v1/forms/{form_id}/summarize"),
                 ("post", "/api/v1/models/{model_id}/benchmarks"), ("post", "/api/v1/webhooks/{hook_id}/redeliver")}
PATH_PARAM = re.compile(r"{([^}]+)}")


def _operation(op: Op) -> dict[str, Any]:
    method, path, tag, summary, status, body, is_public, query = op
    statuses = status if isinstance(status, tuple) else (status,)
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
              for n in PATH_PARAM.findall(path)]
    params += [{"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
               for n, t, d in query]
    out: dict[str, Any] = {
        "operationId": f"{method}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
        "summary": summary, "tags": [tag],
        "responses": {str(code): {"description": summary} for code in statuses},
    }
    if params:
        out["parameters"] = params
    if body is not None:
        content = {"application/json": {"schema": body}, **EXTRA_REQUEST_CONTENT.get((method, path), {})}
        out["requestBody"] = {"required": (method, path) not in OPTIONAL_BODY, "content": content}
    if is_public:
        out["security"] = []
    else:
        out["responses"].update({
            "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}})
    out["responses"]["default"] = {"$ref": "#/components/responses/Error"}
    return out


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in (*OPERATIONS, *EXTRA_OPERATIONS):
        paths.setdefault(op[1], {})[op[0]] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "fms", "version": "1.0.0",
                 "description": "Self-hosted form management with CPU-only AI."},
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API key (fms_…) or a login token (fmt_…)."}},
            "schemas": {"Error": ERROR},
            "responses": {"Error": {
                "description": "The error shape used by every endpoint.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }},
        },
    }


def docs_html() -> str:
    """A dependency-free docs page (no CDN: hosts may be offline)."""
    doc = document()
    rows = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            auth = "public" if op.get("security") == [] else "bearer"
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(op['summary'])}</td><td>{auth}</td></tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>fms API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:.2em .8em;border-bottom:1px solid #ddd}</style>"
        "</head><body><h1>fms API v1</h1><p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>. "
        "Errors: <code>{\"error\": {code, message, details, request_id}}</code>.</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>auth</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
