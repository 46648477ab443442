"""The second held-out AI-fill set (``tests/data/fill_eval/heldout2``) is sound (no model needed).

Written blind (its author saw neither the filler's code nor its outputs) to replace the first
held-out set once that was spent; it is scored, never tuned on (its README keeps the exposure
log). Like the other sets it is checked like code: every answer validates against its form,
every field has a kind, the set is large enough (issue 9: at least 12 forms and 150
narratives), the JSONL is what its builder writes, and none of its forms is a dev or seen form.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

DATA = Path(__file__).resolve().parents[1] / "data" / "fill_eval"
FORMS = DATA / "heldout2"
KINDS = {"name", "place", "date", "time", "amount", "count", "code", "enum", "boolean",
         "free_text", "email", "phone"}


def _forms(folder: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if p.name != "kinds.json"}


def _rows() -> list[dict[str, Any]]:
    lines = (DATA / "heldout2.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("heldout2_build", FORMS / "_build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_expected_answer_validates_against_its_valid_form() -> None:
    forms = _forms(FORMS)
    for schema in forms.values():
        Draft202012Validator.check_schema(schema)
    for row in _rows():
        validator = Draft202012Validator(forms[row["form"]], format_checker=FormatChecker())
        assert row["expected"] and not [e.message for e in validator.iter_errors(row["expected"])], row["id"]


def test_every_field_has_a_known_kind_and_the_set_is_big_enough() -> None:
    kinds, forms, rows = json.loads((FORMS / "kinds.json").read_text()), _forms(FORMS), _rows()
    assert set(kinds) == set(forms)
    for name, schema in forms.items():
        assert set(kinds[name]) == set(schema["properties"]), name
        assert set(kinds[name].values()) <= KINDS, name
    assert len(forms) >= 12 and len(rows) >= 150 and len({r["id"] for r in rows}) == len(rows)
    assert {r["form"] for r in rows} == set(forms)


def test_its_forms_are_neither_dev_nor_seen_forms() -> None:
    others = set(_forms(DATA / "forms")) | set(_forms(DATA / "seen_forms"))
    assert others and not others & set(_forms(FORMS))


def test_jsonl_is_what_the_builder_writes() -> None:
    builder = _builder()
    assert builder.check() == []
    assert builder.records() == _rows()
