"""The Rust fast path never changes a verdict or a message of the Python validator.

Why: :class:`app.validation.Validator` lets ``jsonschema_rs`` confirm valid
documents and asks ``jsonschema`` only for the errors; if the two ever
disagreed on a document the Python library rejects, fms would accept what it
refused before. Each case here is one of the corners where the two libraries
are known to differ (formats, regex dialects, integers, big numbers).
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from app import fastjson
from app.validation import Validator, errors_of

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["email"],
    "properties": {
        "email": {"type": "string", "format": "email"},
        "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "ip": {"type": "string", "format": "ipv4"},
        "id": {"type": "string", "format": "uuid"},
        "site": {"type": "string", "format": "uri"},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "word": {"type": "string", "pattern": "^\\w+$"},
        "not_word": {"type": "string", "pattern": "^[^\\w]$"},
        "digit": {"type": "string", "pattern": "^\\d$"},
        "n": {"type": "integer", "minimum": 0, "maximum": 10},
        "x": {"type": "number", "multipleOf": 0.1},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": True},
        "flag": {"const": True},
    },
}
CASES: list[Any] = [
    {"email": "a@b"}, {"email": "not-an-email"}, {"email": 5}, {},
    {"email": "a@b", "day": "2024-02-30"}, {"email": "a@b", "day": "2024-02-29"}, {"email": "a@b", "day": "20240229"},
    {"email": "a@b", "at": "2024-01-01T00:00:00Z"}, {"email": "a@b", "at": "2024-01-01 00:00"},
    {"email": "a@b", "ip": "256.1.1.1"}, {"email": "a@b", "ip": "10.0.0.1"},
    {"email": "a@b", "id": "not-a-uuid"}, {"email": "a@b", "site": "not a uri"},
    {"email": "a@b", "country": "GB\n"}, {"email": "a@b", "country": "gb"},
    {"email": "a@b", "word": "héllo"}, {"email": "a@b", "word": "two words"},
    {"email": "a@b", "not_word": "é"}, {"email": "a@b", "not_word": "!"}, {"email": "a@b", "digit": "٣"},
    {"email": "a@b", "digit": "7\n"}, {"email": "a@b", "digit": "x"},
    {"email": "a@b", "n": 1.0}, {"email": "a@b", "n": True}, {"email": "a@b", "n": 10**30},
    {"email": "a@b", "n": -(10**30)}, {"email": "a@b", "x": 0.3}, {"email": "a@b", "x": 1e308},
    {"email": "a@b", "tags": ["a", "a"]}, {"email": "a@b", "tags": [1, True]}, {"email": "a@b", "flag": 1},
    {"email": "a@b", "flag": True}, [], "text", None,
]


@pytest.mark.parametrize("instance", CASES)
def test_fast_path_agrees_with_jsonschema(instance: Any) -> None:
    reference = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
    ours = Validator(SCHEMA)
    assert ours.is_valid(instance) == reference.is_valid(instance)
    expected = sorted((list(e.absolute_path), e.message) for e in reference.iter_errors(instance))
    assert sorted((list(e.absolute_path), e.message) for e in ours.iter_errors(instance)) == expected


def test_the_fast_path_is_used_where_it_is_safe() -> None:
    assert Validator({"type": "object", "properties": {"c": {"pattern": "^[A-Z]{2}$"}}}).fast is not None
    assert Validator({"properties": {"x": {"multipleOf": 0.1}}}).fast is None


def test_errors_keep_their_pointers_and_messages() -> None:
    errors = errors_of(Validator(SCHEMA), {"n": "x", "country": "gb"}, "/answers")
    assert [(e["pointer"], e["keyword"]) for e in errors] == [
        ("/answers/country", "pattern"), ("/answers/email", "required"), ("/answers/n", "type")]
    assert errors[1]["message"] == "'email' is a required property"


def test_a_schema_rust_cannot_compile_is_checked_by_python_alone() -> None:
    schema = {"type": "string", "pattern": "(?<=a)b"}  # look-behind: fine in Python's re
    ours = Validator(schema)
    assert ours.is_valid("ab") == Draft202012Validator(schema).is_valid("ab")


@pytest.mark.parametrize("text", [
    b'{"a":123456789012345678901234567890}', b'{"a":-9223372036854775809}', b'{"a":1e400}', b'{"a":NaN}',
    b'\xef\xbb\xbf{"a":1}', b'{"a":"\\ud800"}', b'{"a":1,"a":2}', b'{"a":[1.5,"\xc3\xa9"]}',
])
def test_fastjson_reads_what_json_reads(text: bytes) -> None:
    import json

    try:
        expected: Any = json.loads(text)
    except ValueError as exc:
        with pytest.raises(ValueError) as caught:
            fastjson.loads(text)
        assert str(caught.value) == str(exc)
        return
    got = fastjson.loads(text)
    assert repr(got) == repr(expected)  # repr: NaN != NaN, and 1 vs 1.0 must match too


def test_fastjson_writes_what_orjson_cannot() -> None:
    assert fastjson.loads(fastjson.dumps({"big": 10**30})) == {"big": 10**30}
    assert fastjson.dumps({1: "x"}) == b'{"1":"x"}'
