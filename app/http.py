"""Helpers every blueprint uses: the caller, JSON bodies, JSON responses."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, g, request

from app import fastjson
from app.auth import access
from app.auth.service import Principal
from app.errors import BadRequest, UnsupportedMediaType
from app.services import Services
from app.store import Record

F = TypeVar("F", bound=Callable[..., Any])


def services() -> Services:
    return current_app.extensions["fms"]


def public(view: F) -> F:
    """Mark a view as reachable without credentials (checked by a test)."""
    view._fms_public = True  # type: ignore[attr-defined]
    return view


def principal() -> Principal:
    """The authenticated caller (the app authenticates before any non-public view)."""
    return g.principal


def require_form(form_id: str, need: str) -> Record:
    """The form if the caller may ``need`` (read | write | manage) it: 404 when they cannot see it, 403
    when they can but not this. Every form-scoped view calls it (rules: :mod:`app.auth.access`)."""
    svc = services()
    return access.check_form(svc.store, principal(), form_id, need, svc.forms.live(form_id))


def hidden_fields(form: Record) -> frozenset[str]:
    """The form's sensitive fields the caller may not see, by their level on it (:mod:`app.auth.access`)."""
    return access.hidden_fields(services().store, principal(), form)


def json_body() -> Any:
    """The request's JSON, or 400/415 naming what is wrong with it."""
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise UnsupportedMediaType.field("Content-Type", "send the body as application/json")
    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequest.field("", "request body is empty", code="malformed_json")
    return loads(raw)


def loads(raw: bytes) -> Any:
    """Parse a JSON body (orjson with the standard library's results, :mod:`app.fastjson`), or 400.

    NaN, Infinity and out-of-range numbers are refused too: they would be stored as null.
    """
    try:
        return fastjson.loads_standard(raw)
    except ValueError as exc:
        raise BadRequest.field("", f"malformed JSON: {exc}", code="malformed_json") from exc


def int_arg(name: str, default: int, low: int = 1, high: int = 1000) -> int:
    """An integer query parameter within bounds, or 400 naming it."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadRequest.field(name, f"{name} must be an integer from {low} to {high}")
    return value


def dumps(data: Any) -> bytes:
    return fastjson.dumps(data)


def json_response(data: Any = None, status: int = 200, *, raw: bytes | None = None,
                  cacheable: bool = False, headers: dict[str, str] | None = None,
                  etag: str | None = None) -> Response:
    """A JSON response; ``cacheable`` adds a strong ETag and answers 304 on a match.

    ``etag``: the body's ETag when the caller keeps one with it (or a ``raw``
    body with an ``etag`` attribute, the cached form), so a hit is not hashed
    again; otherwise it is computed here.
    """
    body = raw if raw is not None else dumps(data)
    etag = etag or getattr(raw, "etag", None)
    response = Response(body, status=status, mimetype="application/json", headers=headers)
    if cacheable and status == 200:
        response.set_etag(etag or hashlib.blake2b(body, digest_size=16).hexdigest())
        response.headers["Cache-Control"] = "private, no-cache"
        response.headers["Vary"] = "Authorization"
        if "HTTP_IF_NONE_MATCH" in request.environ or "HTTP_IF_MODIFIED_SINCE" in request.environ:
            response.make_conditional(request)
    elif request.method == "GET":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def accepted(task_id: str, **extra: Any) -> Response:
    """``202`` naming the task, its status URL (and ``Location``) and whatever else the caller needs.

    Every view that starts work through ``services().dispatch`` answers with it.
    """
    return json_response({**extra, "task_id": task_id, "status_url": f"/api/v1/tasks/{task_id}"}, 202,
                         headers={"Location": f"/api/v1/tasks/{task_id}"})
