"""Request-body and answer validation with jsonschema (Draft 2020-12).

Every error is reported, each with the JSON pointer of the offending value,
so a client can fix a form in one round trip.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from app.errors import ValidationFailed
from app.util import canonical_json

_FORMATS = FormatChecker()


def pointer(path: Iterable[Any]) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/" + "/".join(parts) if parts else ""


def _describe(error: ValidationError) -> dict[str, str]:
    path = list(error.absolute_path)
    if error.validator == "required":  # point at the missing member, not its parent
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    elif error.validator == "additionalProperties" and "'" in error.message:
        extra = error.message.split("'")[1]
        path.append(extra)
    return {"pointer": pointer(path), "message": error.message, "keyword": str(error.validator)}


def errors_of(validator: Draft202012Validator, instance: Any, prefix: str = "",
              skip: frozenset[str] = frozenset()) -> list[dict[str, str]]:
    out = []
    for err in validator.iter_errors(instance):
        if err.validator in skip:
            continue
        detail = _describe(err)
        detail["pointer"] = prefix + detail["pointer"]
        out.append(detail)
    return sorted(out, key=lambda d: (d["pointer"], d["keyword"]))


def check(validator: Draft202012Validator, instance: Any, message: str, prefix: str = "",
          skip: frozenset[str] = frozenset()) -> None:
    """Raise 422 with every error when ``instance`` does not validate."""
    if not skip and validator.is_valid(instance):
        return
    errors = errors_of(validator, instance, prefix, skip)
    if errors:
        raise ValidationFailed(message, errors)


_validators: dict[tuple[str, int], Draft202012Validator] = {}


def validator_for(schema: dict[str, Any], key: tuple[str, int] | None = None) -> Draft202012Validator:
    """A validator for an answers schema, built once per ``key`` (form id, version).

    A form version never changes once stored, so the key is a safe cache key and
    saves re-serialising a large schema on every submission.
    """
    if key is None:
        return _cached_validator(canonical_json(schema))
    found = _validators.get(key)
    if found is None:
        if len(_validators) > 2048:
            _validators.clear()
        found = _validators[key] = Draft202012Validator(schema, format_checker=_FORMATS)
    return found


@lru_cache(maxsize=512)
def _cached_validator(schema_json: str) -> Draft202012Validator:
    import json

    return Draft202012Validator(json.loads(schema_json), format_checker=_FORMATS)


def body_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """For the API's own request bodies (declared once, in each module)."""
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_FORMATS)
