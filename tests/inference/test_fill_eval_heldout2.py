"""The second held-out AI-fill set (``tests/data/fill_eval/heldout2``) is sound (no model needed).

Written blind (its author saw neither the filler's code nor its outputs) to replace the first
held-out set once that was spent; it is scored, never tuned on (its README keeps the exposure
log). Like the other sets it is checked like code: every answer validates against its form,
every field has a kind, the set is large enough (issue 9: at least 12 forms and 150
narratives), the JSONL is what its builder writes, and none of its forms is a dev or seen form.
"""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator, FormatChecker

from tests.inference.fill_eval_sets import DATA, KINDS, builder, forms, rows

FORMS = DATA / "heldout2"
JSONL = "heldout2.jsonl"


def test_every_expected_answer_validates_against_its_valid_form() -> None:
    schemas = forms(FORMS)
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    for row in rows(JSONL):
        validator = Draft202012Validator(schemas[row["form"]], format_checker=FormatChecker())
        assert row["expected"] and not [e.message for e in validator.iter_errors(row["expected"])], row["id"]


def test_every_field_has_a_known_kind_and_the_set_is_big_enough() -> None:
    kinds, schemas, narratives = json.loads((FORMS / "kinds.json").read_text()), forms(FORMS), rows(JSONL)
    assert set(kinds) == set(schemas)
    for name, schema in schemas.items():
        assert set(kinds[name]) == set(schema["properties"]), name
        assert set(kinds[name].values()) <= KINDS, name
    assert len(schemas) >= 12 and len(narratives) >= 150 and len({r["id"] for r in narratives}) == len(narratives)
    assert {r["form"] for r in narratives} == set(schemas)


def test_its_forms_are_neither_dev_nor_seen_forms() -> None:
    others = set(forms(DATA / "forms")) | set(forms(DATA / "seen_forms"))
    assert others and not others & set(forms(FORMS))


def test_jsonl_is_what_the_builder_writes() -> None:
    build = builder(FORMS)
    assert build.check() == []
    assert build.records() == rows(JSONL)
