"""Request-body and answer validation with jsonschema (Draft 2020-12).

Every error is reported, each with the JSON pointer of the offending value,
so a client can fix a form in one round trip.

Why two libraries: a valid document (nearly every request) is confirmed by
``jsonschema_rs`` (Rust, ~30x faster here); only a document it rejects is
walked by the pure-Python ``jsonschema``, which collects the errors with the
messages clients know, and which also has the last word: when it finds no
error the document is valid. The Rust validator checks formats with the Python
library's own format functions and ``pattern`` with Python's ``re``, and never
fetches a remote ``$ref``; schemas with a keyword whose verdict differs between
the two (``multipleOf``, ``patternProperties``) and
schemas Rust cannot compile are validated by the Python library alone, so the
fast path never accepts what the Python one refuses
(``tests/test_validation_fast.py`` compares them corner by corner).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from app.errors import ValidationFailed
from app.util import canonical_json

_FORMATS = FormatChecker()


def _python_format(name: str) -> Callable[[Any], bool]:
    def conforms(value: Any) -> bool:
        return bool(_FORMATS.conforms(value, name))

    return conforms


_RS_FORMATS = {name: _python_format(name) for name in _FORMATS.checkers}


# Keywords whose verdicts differ between the two libraries: Rust's multipleOf tolerates float
# rounding (0.3 is a multiple of 0.1 there, not in jsonschema), and its regex dialect is not
# Python's (ASCII \d and \w, no match before a final newline). A schema using multipleOf or
# patternProperties is Python-only; ``pattern`` is checked with Python's ``re`` inside Rust.
_PYTHON_ONLY = frozenset({"multipleOf", "patternProperties"})


class _PythonPattern:
    """``pattern`` for the Rust validator, with jsonschema's own semantics (``re.search``)."""

    def __init__(self, _parent: Any, value: str, _path: Any) -> None:
        self._regex = re.compile(value)

    def validate(self, instance: Any) -> None:
        if isinstance(instance, str) and not self._regex.search(instance):
            raise ValueError("does not match the pattern")


def _uses(schema: Any, keywords: frozenset[str]) -> bool:
    """Whether ``schema`` uses any of ``keywords`` anywhere (a property named so counts too: safe side)."""
    if isinstance(schema, dict):
        return any(k in keywords or _uses(v, keywords) for k, v in schema.items())
    if isinstance(schema, list):
        return any(_uses(v, keywords) for v in schema)
    return False


class Validator:
    """A compiled schema: Rust for the verdict, Python for the errors (see the module docstring)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.python = Draft202012Validator(schema, format_checker=_FORMATS)
        self.fast: Any = None
        if _uses(schema, _PYTHON_ONLY):
            return
        try:
            self.fast = jsonschema_rs.Draft202012Validator(
                schema, validate_formats=True, formats=_RS_FORMATS, offline=True,
                keywords={"pattern": _PythonPattern})
        except Exception:  # noqa: BLE001 - a schema Rust cannot compile is checked by Python alone
            self.fast = None

    def is_valid(self, instance: Any) -> bool:
        if self.fast is not None:
            try:
                if self.fast.is_valid(instance):
                    return True
            except Exception:  # noqa: BLE001 - a value Rust cannot take (say, a huge int): ask Python
                pass
        return bool(self.python.is_valid(instance))

    def iter_errors(self, instance: Any) -> Iterable[ValidationError]:
        if self.fast is not None:
            try:
                if self.fast.is_valid(instance):
                    return ()
            except Exception:  # noqa: BLE001 - as in is_valid
                pass
        return self.python.iter_errors(instance)


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


def errors_of(validator: Validator, instance: Any, prefix: str = "",
              skip: frozenset[str] = frozenset()) -> list[dict[str, str]]:
    out = []
    for err in validator.iter_errors(instance):
        if err.validator in skip:
            continue
        detail = _describe(err)
        detail["pointer"] = prefix + detail["pointer"]
        out.append(detail)
    return sorted(out, key=lambda d: (d["pointer"], d["keyword"]))


def check(validator: Validator, instance: Any, message: str, prefix: str = "",
          skip: frozenset[str] = frozenset()) -> None:
    """Raise 422 with every error when ``instance`` does not validate."""
    if not skip and validator.is_valid(instance):
        return
    errors = errors_of(validator, instance, prefix, skip)
    if errors:
        raise ValidationFailed(message, errors)


_validators: dict[tuple[str, int], Validator] = {}


def validator_for(schema: dict[str, Any], key: tuple[str, int] | None = None) -> Validator:
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
        found = _validators[key] = Validator(schema)
    return found


@lru_cache(maxsize=512)
def _cached_validator(schema_json: str) -> Validator:
    import json

    return Validator(json.loads(schema_json))


def body_validator(schema: dict[str, Any]) -> Validator:
    """For the API's own request bodies (declared once, in each module)."""
    Draft202012Validator.check_schema(schema)
    return Validator(schema)
