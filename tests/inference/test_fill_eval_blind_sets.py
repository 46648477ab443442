"""The blind-written AI-fill sets (``heldout2``-``heldout4`` under tests/data/fill_eval) are sound.

Each was written blind (its author saw neither the filler's code nor its outputs) to replace
the held-out set before it once that was spent; heldout2 and heldout3 have since become tuning
splits, and heldout4 is the one scored as held-out (each README keeps its exposure log). No model is needed:
the sets are checked like code. Every answer validates against its form, every field has a
kind, each set is large enough (issue 9: at least 12 forms and 150 narratives), the JSONL is
what its builder writes, and none of its forms belongs to a set written before it — otherwise
a "held-out" figure would be measured on forms the filler was tuned on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.inference.fill_eval_sets import DATA, KINDS, builder, forms, rows


@dataclass(frozen=True)
class BlindSet:
    """One blind set: its forms folder, its JSONL, and the folders its forms must not repeat."""

    folder: str
    jsonl: str
    earlier: tuple[str, ...]


SETS = [
    BlindSet("heldout2", "heldout2.jsonl", ("forms", "seen_forms")),
    BlindSet("heldout3", "heldout3.jsonl", ("forms", "seen_forms", "heldout2")),
    BlindSet("heldout4", "heldout4.jsonl", ("forms", "seen_forms", "heldout2", "heldout3")),
]


@pytest.fixture(params=SETS, ids=lambda s: s.folder)
def blind(request: pytest.FixtureRequest) -> BlindSet:
    return request.param


def test_every_expected_answer_validates_against_its_valid_form(blind: BlindSet) -> None:
    schemas = forms(DATA / blind.folder)
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    for row in rows(blind.jsonl):
        validator = Draft202012Validator(schemas[row["form"]], format_checker=FormatChecker())
        assert row["expected"] and not [e.message for e in validator.iter_errors(row["expected"])], row["id"]


def test_every_field_has_a_known_kind_and_the_set_is_big_enough(blind: BlindSet) -> None:
    folder = DATA / blind.folder
    kinds, schemas, narratives = json.loads((folder / "kinds.json").read_text()), forms(folder), rows(blind.jsonl)
    assert set(kinds) == set(schemas)
    for name, schema in schemas.items():
        assert set(kinds[name]) == set(schema["properties"]), name
        assert set(kinds[name].values()) <= KINDS, name
    assert len(schemas) >= 12 and len(narratives) >= 150 and len({r["id"] for r in narratives}) == len(narratives)
    assert {r["form"] for r in narratives} == set(schemas)


def test_its_forms_are_in_no_earlier_set(blind: BlindSet) -> None:
    earlier = set().union(*(forms(DATA / folder) for folder in blind.earlier))
    assert earlier and not earlier & set(forms(DATA / blind.folder))


def test_jsonl_is_what_the_builder_writes(blind: BlindSet) -> None:
    build = builder(DATA / blind.folder)
    assert build.check() == []
    assert build.records() == rows(blind.jsonl)
