"""The OpenAPI 3.1 document, collected from the blueprints the app registered.

Each blueprint's module declares its operations next to its views, in a
module-level ``OPERATIONS`` tuple of :class:`Operation`; :func:`document`
walks ``app.blueprints`` and reads them, so nothing is appended to a global
list at import and a blueprint that is not registered is not documented.
OpenAPI 3.1 speaks JSON Schema 2020-12, so each request body's schema is the
very dict the endpoint validates with: the document cannot drift from the
code. Tests check that every URL rule has an operation and every operation a
URL rule, and that every request example validates against its schema.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

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
ERROR_EXAMPLE = {"error": {"code": "validation_failed", "message": "submission is invalid",
                           "details": [{"pointer": "/answers/email", "message": "'x' is not a 'email'",
                                        "keyword": "format"}],
                           "request_id": "4f0c9a7e2b8d4e61a3c5f7e9b1d3a5c7"}}
# (name, type, description) of a query parameter
Param = tuple[str, str, str]
LIST_PARAMS: tuple[Param, ...] = (
    ("limit", "integer", "Page size, 1 to 1000 (default 50)."),
    ("cursor", "string", "Opaque cursor from the previous page's `next_cursor`."),
    ("fields", "string", "Comma-separated answer fields to return."),
    ("created_after", "string", "ISO-8601 lower bound (exclusive)."),
    ("created_before", "string", "ISO-8601 upper bound (exclusive)."),
    ("include_total", "boolean", "Also return the total count of matches."),
    ("deleted", "boolean", "List soft-deleted submissions instead of live ones."),
    ("filter[status]", "string", "Comma-separated statuses."),
)
FILTER_PARAMS: tuple[Param, ...] = (*(p for p in LIST_PARAMS if p[0] in {"created_after", "created_before",
                                                                        "filter[status]"}),
                                    ("filter[answers.<field>][<op>]", "string",
                                     "Typed answer filter as on the list (op: eq ne gt gte lt lte in)."))
TASK_ACCEPTED_EXAMPLE = {"task_id": "01JD8X3W6Q9V2N4K7M1P5R8T0Y",
                         "status_url": "/api/v1/tasks/01JD8X3W6Q9V2N4K7M1P5R8T0Y"}
PATH_PARAM = re.compile(r"{([^}]+)}")
RETRY_AFTER_HEADER = {"description": "Seconds to wait before asking again.", "schema": {"type": "integer"}}


def busy_response(description: str, example_details: Any) -> dict[str, Any]:
    """A documented ``503 analytics_busy`` (the error shape, ``Retry-After``): what it means here and an example."""
    example = {"error": {"code": "analytics_busy", "message": "the host is busy with other summaries or exports",
                         "details": example_details, "request_id": ERROR_EXAMPLE["error"]["request_id"]}}
    return {"description": description, "headers": {"Retry-After": RETRY_AFTER_HEADER},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}, "example": example}}}


@dataclass(frozen=True)
class Operation:
    """One method on one path, as its blueprint declares it.

    ``status``: the success status, or statuses (``(200, 201)`` for an upsert).
    ``body``: the JSON Schema the view validates the request with (None: no body).
    ``optional_body``: the view reads a missing body as ``{}``.
    ``content``: request media types besides JSON (uploads), by media type.
    ``request_example`` / ``response_example``: shown by ``/docs`` and tried by
    the fuzzer; a response example is only given where the answer is always JSON.
    ``descriptions``: what a status means, where it is not the summary (a 202 beside a 200).
    ``responses``: response objects given whole (a schema and example of their own, an error worth naming).
    """

    method: str
    path: str
    tag: str
    summary: str
    status: int | tuple[int, ...] = 200
    body: Mapping[str, Any] | None = None
    public: bool = False
    query: Sequence[Param] = ()
    optional_body: bool = False
    content: Mapping[str, Any] = field(default_factory=dict)
    request_example: Any = None
    response_example: Any = None
    descriptions: Mapping[int, str] = field(default_factory=dict)
    responses: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)  # whole response objects by status

    @property
    def statuses(self) -> tuple[int, ...]:
        return self.status if isinstance(self.status, tuple) else (self.status,)

    def spec(self) -> dict[str, Any]:
        """The OpenAPI operation object."""
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in PATH_PARAM.findall(self.path)]
        params += [{"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
                   for n, t, d in self.query]
        out: dict[str, Any] = {
            "operationId": f"{self.method}_{re.sub(r'[^a-z0-9]+', '_', self.path.lower()).strip('_')}",
            "summary": self.summary, "tags": [self.tag],
            "responses": {str(code): self._response(code) for code in self.statuses},
        }
        out["responses"].update({str(code): dict(response) for code, response in self.responses.items()})
        if params:
            out["parameters"] = params
        if self.body is not None:
            json_media: dict[str, Any] = {"schema": dict(self.body)}
            if self.request_example is not None:
                json_media["example"] = self.request_example
            out["requestBody"] = {"required": not self.optional_body,
                                  "content": {"application/json": json_media, **self.content}}
        if self.public:
            out["security"] = []
        else:
            out["responses"].update({
                "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}})
        out["responses"]["default"] = {"$ref": "#/components/responses/Error"}
        return out

    def _response(self, code: int) -> dict[str, Any]:
        response: dict[str, Any] = {"description": self.descriptions.get(code, self.summary)}
        if self.response_example is not None and code == self.statuses[0]:
            response["content"] = {"application/json": {"example": self.response_example}}
        return response


def operations(app: Flask) -> list[Operation]:
    """Every registered blueprint's ``OPERATIONS``, in registration order."""
    found: list[Operation] = []
    for bp in app.blueprints.values():
        found += getattr(sys.modules[bp.import_name], "OPERATIONS", ())
    return found


def build(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations(app):
        methods = paths.setdefault(op.path, {})
        if op.method in methods:
            raise ValueError(f"{op.method.upper()} {op.path} is declared twice")
        methods[op.method] = op.spec()
    return {
        "openapi": "3.1.0",
        "info": {"title": "fms", "version": "1.0.0",
                 "description": "Self-hosted form management with CPU-only AI. Every request but the public "
                                "ones needs `Authorization: Bearer <key>` (an API key or a login token)."},
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API key (fms_…) or a login token (fmt_…)."}},
            "schemas": {"Error": ERROR},
            "responses": {"Error": {
                "description": "The error shape used by every endpoint.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"},
                                                 "example": ERROR_EXAMPLE}},
            }},
        },
    }


def document(app: Flask) -> dict[str, Any]:
    """The document for ``app``, built once (the blueprints are registered before the first request)."""
    doc = app.extensions.get("fms.openapi")
    if doc is None:
        doc = app.extensions["fms.openapi"] = build(app)
    return doc

