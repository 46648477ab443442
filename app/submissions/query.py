"""The list query language: typed filters checked against the form's schema.

Clients never send database queries. ``filter[status]=a,b``,
``filter[answers.<field>]=v`` and ``filter[answers.<field>][gte]=v`` are
parsed here, each field is looked up in the schema and each value converted
to the field's type, so a typo is a 400 naming the parameter instead of an
empty page.

A filter or ``fields=`` on a sensitive field the caller may not see is a
``403 field_hidden``: a filter would answer questions about the hidden value
(``total`` 1 vs 0, narrowed by ``[gte]`` as a binary search) even though
every value comes back redacted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from app.errors import BadRequest, Forbidden
from app.store import SUBMISSION_STATUSES, AnswerFilter, Record, SubmissionQuery
from app.util import iso, parse_iso

FILTER_RE = re.compile(r"^filter\[(status|answers\.([A-Za-z0-9_\-]{1,64}))\](?:\[(eq|ne|gt|gte|lt|lte|in)\])?$")
KNOWN = {"limit", "cursor", "fields", "created_after", "created_before", "include_total", "deleted"}
MAX_LIMIT = 1000
_SCALAR_TYPES = {"string", "integer", "number", "boolean"}


def _field_type(schema: Record, name: str, param: str) -> str:
    prop = schema.get("properties", {}).get(name)
    if prop is None:
        raise BadRequest.field(param, f"form has no field {name!r}", code="unknown_field")
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "enum" in prop:
        kind = "string"
    if kind not in _SCALAR_TYPES:
        raise BadRequest.field(param, f"field {name!r} ({kind}) cannot be filtered", code="unfilterable_field")
    return str(kind)


def refuse_hidden(name: str, param: str, hide: frozenset[str]) -> None:
    """403 when ``param`` asks about ``name``, a sensitive field this caller may not see."""
    if name in hide:
        raise Forbidden.field(param, f"field {name!r} is sensitive and hidden from you; "
                                     f"{param} cannot use it", code="field_hidden")


def _typed(raw: str, kind: str, param: str) -> Any:
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
        if kind == "boolean":
            if raw not in {"true", "false"}:
                raise ValueError(raw)
            return raw == "true"
        return raw
    except ValueError as exc:
        raise BadRequest.field(param, f"{raw!r} is not a valid {kind}", code="invalid_filter") from exc


def _answer_filter(name: str, op: str, raw: str, schema: Record, param: str) -> AnswerFilter:
    kind = _field_type(schema, name, param)
    if op in {"gt", "gte", "lt", "lte"} and kind == "boolean":
        raise BadRequest.field(param, f"'{op}' does not apply to a boolean", code="invalid_filter")
    if op == "in":
        values = [_typed(v, kind, param) for v in raw.split(",") if v != ""]
        if not values or len(values) > 100:
            raise BadRequest.field(param, "'in' takes 1 to 100 comma-separated values", code="invalid_filter")
        return AnswerFilter(name, "in", tuple(values))
    value = _typed(raw, kind, param)
    return AnswerFilter(name, op, value)


def _timestamp(raw: str, param: str) -> str:
    try:
        return iso(parse_iso(raw))
    except ValueError as exc:
        raise BadRequest.field(param, f"{raw!r} is not an ISO-8601 timestamp", code="invalid_timestamp") from exc


class CursorCodec:
    """Opaque, signed keyset cursors: a client can pass them back, not forge them."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _sig(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()[:16]

    def encode(self, created_at: str, ident: str, form_id: str) -> str:
        payload = json.dumps([created_at, ident, form_id], separators=(",", ":")).encode()
        token = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{token}.{self._sig(payload)}"

    def decode(self, cursor: str, form_id: str) -> tuple[str, str]:
        bad = BadRequest.field("cursor", "cursor is malformed or was not issued for this list", code="invalid_cursor")
        token, _, sig = cursor.partition(".")
        try:
            payload = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            created_at, ident, for_form = json.loads(payload)
        except (ValueError, TypeError) as exc:
            raise bad from exc
        if not hmac.compare_digest(sig, self._sig(payload)) or for_form != form_id:
            raise bad
        return str(created_at), str(ident)


def parse_list_args(args: Mapping[str, str], form: Record, codec: CursorCodec,
                    hide: frozenset[str] = frozenset()) -> tuple[SubmissionQuery, bool]:
    """Build a :class:`SubmissionQuery` from query-string arguments, or raise 400 (403 on a ``hide`` field)."""
    statuses: tuple[str, ...] = ()
    answers: list[AnswerFilter] = []
    for param, raw in args.items():
        match = FILTER_RE.match(param)
        if match is None:
            if param not in KNOWN:
                raise BadRequest.field(param, f"unknown query parameter {param!r}", code="unknown_parameter")
            continue
        if match.group(1) == "status":
            statuses = tuple(s for s in raw.split(",") if s)
            bad = [s for s in statuses if s not in SUBMISSION_STATUSES]
            if bad or not statuses:
                raise BadRequest.field(param, f"status must be among {', '.join(SUBMISSION_STATUSES)}",
                                       code="invalid_filter")
        else:
            answers.append(_answer_filter(match.group(2), match.group(3) or "eq", raw, form["schema"], param))
            refuse_hidden(match.group(2), param, hide)
    limit = _limit(args.get("limit", "50"))
    fields = None
    if args.get("fields"):
        fields = tuple(f for f in args["fields"].split(",") if f)
        for name in fields:
            if name not in form["schema"].get("properties", {}):
                raise BadRequest.field("fields", f"form has no field {name!r}", code="unknown_field")
            refuse_hidden(name, "fields", hide)
    query = SubmissionQuery(
        form_id=form["id"], statuses=statuses, answers=tuple(answers),
        created_after=_timestamp(args["created_after"], "created_after") if args.get("created_after") else None,
        created_before=_timestamp(args["created_before"], "created_before") if args.get("created_before") else None,
        deleted=_bool(args.get("deleted", "false"), "deleted"),
        after=codec.decode(args["cursor"], form["id"]) if args.get("cursor") else None,
        limit=limit, fields=fields,
    )
    return query, _bool(args.get("include_total", "false"), "include_total")


def _limit(raw: str) -> int:
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest.field("limit", f"limit must be an integer from 1 to {MAX_LIMIT}", code="invalid_limit")
    return limit


def _bool(raw: str, param: str) -> bool:
    if raw not in {"true", "false", "1", "0"}:
        raise BadRequest.field(param, f"{param} must be true or false")
    return raw in {"true", "1"}
