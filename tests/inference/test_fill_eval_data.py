"""The seen-forms AI-fill evaluation data is sound (no model needed).

A wrong expected answer in an evaluation set silently turns into a wrong accuracy figure, so
the data is checked like code: every answer validates against its form, every field has a kind
for the per-kind table, the set is large enough to mean something, and its forms are not the
dev forms (so the two splits measure different forms). The seen forms were the held-out set
until they had been scored twice; they are tuning data now.
"""

from __future__ import annotations

import json
from types import ModuleType

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.inference import fill_eval_sets as sets
from tests.inference.fill_eval_sets import DATA, KINDS

FORMS = DATA / "seen_forms"
MIN_FORMS, MIN_ROWS, MIN_PER_FORM = 7, 100, 12
_forms = sets.forms


def _rows() -> list[dict]:
    return sets.rows("seen_forms.jsonl")


def _builder() -> ModuleType:
    return sets.builder(FORMS)


def test_every_expected_answer_validates_against_its_form() -> None:
    forms = _forms(FORMS)
    for row in _rows():
        schema = forms[row["form"]]
        errors = [e.message for e in
                  Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(row["expected"])]
        assert not errors, (row["id"], errors)
        assert row["expected"], row["id"]


def test_dates_are_iso_and_schemas_are_valid() -> None:
    for name, schema in _forms(FORMS).items():
        Draft202012Validator.check_schema(schema)
        assert schema.get("additionalProperties") is False, name
    forms = _forms(FORMS)
    for row in _rows():
        for field, value in row["expected"].items():
            if forms[row["form"]]["properties"][field].get("format") == "date":
                assert len(value) == 10 and value[4] == value[7] == "-", (row["id"], field, value)


def test_every_field_of_every_form_has_a_known_kind() -> None:
    kinds = json.loads((FORMS / "kinds.json").read_text())
    forms = _forms(FORMS)
    assert set(kinds) == set(forms)
    for name, schema in forms.items():
        assert set(kinds[name]) == set(schema["properties"]), name
        assert set(kinds[name].values()) <= KINDS, (name, set(kinds[name].values()) - KINDS)


def test_counts_reach_the_thresholds() -> None:
    rows = _rows()
    forms = _forms(FORMS)
    per_form = {name: sum(r["form"] == name for r in rows) for name in forms}
    assert len(forms) >= MIN_FORMS
    assert len(rows) >= MIN_ROWS
    assert min(per_form.values()) >= MIN_PER_FORM, per_form
    assert {r["form"] for r in rows} <= set(forms)
    assert len({r["id"] for r in rows}) == len(rows)


def test_seen_forms_are_not_the_dev_forms() -> None:
    dev = set(_forms(DATA / "forms"))
    assert dev, "dev forms missing"
    assert not dev & set(_forms(FORMS))


def test_jsonl_is_what_the_builder_writes() -> None:
    """The JSONL is generated; an edit to one without the other would go unnoticed."""
    builder = _builder()
    assert builder.check() == []
    assert builder.records() == _rows()


@pytest.mark.parametrize(("field", "value", "why"), [
    ("complainant", "Someone Else", "is not in the text"),
    ("occ_date", "14/03/2024", "is not a 'date'"),
    ("offence", "pickpocketing", "is not one of"),
])
def test_builder_check_rejects_an_answer_a_human_could_not_give(field: str, value: str, why: str) -> None:
    """The guard must catch invented spans, unnormalised dates and off-list enums."""
    builder = _builder()
    form, text, expected = builder.ROWS[0]
    bad = [(form, text, {**expected, field: value}), *builder.ROWS[1:]]
    assert any(why in problem for problem in builder.check(bad))
