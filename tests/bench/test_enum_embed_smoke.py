"""Smoke test for scripts/bench/enum_embed.py on one tiny made-up form (the real run is the benchmark).

Why: the experiment's figures hinge on which fields count as single-choice, on the option
scores coming from the real int8 MiniLM, on the omit thresholds and on the right / wrong /
omitted / invented tally; a slip in any of them would silently change the verdict.
"""

from __future__ import annotations

import pytest

from scripts.bench.enum_embed import TUNING, Chooser, Counts, choice_fields, choose, items_for, units

FORM = {
    "type": "object",
    "properties": {
        "pet": {"type": "string", "title": "Kind of pet", "enum": ["cat", "dog", "parrot"]},
        "size": {"title": "Home size", "oneOf": [{"const": "flat", "title": "Apartment"},
                                                 {"const": "house", "title": "Detached house with garden"}]},
        "vaccinated": {"type": "boolean", "title": "Is the pet vaccinated?"},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
        "name": {"type": "string"},
    },
}


@pytest.fixture(scope="module")
def chooser() -> Chooser:
    return Chooser(threads=1)


def test_choice_fields_are_single_choice_enums_and_booleans() -> None:
    fields = {f.name: f for f in choice_fields("pets", FORM)}
    assert sorted(fields) == ["pet", "size", "vaccinated"]  # the array and the free string are not
    assert fields["size"].values == ["flat", "house"] and "Apartment" in fields["size"].texts[0]
    assert fields["vaccinated"].values == [True, False]
    assert "heldout-forms" not in TUNING  # the blind split is unreachable


def test_options_stated_in_other_words_are_chosen_and_unrelated_text_is_omitted(chooser: Chooser) -> None:
    rows = [{"id": "p1", "form": "pets", "text": "We adopted a puppy last week. He barks at the postman. "
                                                 "We live in a small apartment on the third floor.",
             "expected": {"pet": "dog", "size": "flat"}}]
    items = {it.name: it for it in items_for(chooser, "smoke", rows, {"pets": FORM})}
    assert choose(items["pet"], 0.0, -1.0) == "dog"
    assert choose(items["size"], 0.0, -1.0) == "flat"
    assert choose(items["pet"], 0.0, 0.99) is None  # an unreachable floor omits
    assert len(chooser.fill_ms) == 1 and chooser.fill_ms[0] > 0
    assert "He barks at the postman." in units(rows[0]["text"])


def test_counts_follow_the_fill_eval_union() -> None:
    c = Counts()
    for exp, got in (("dog", "dog"), ("dog", "cat"), ("dog", None), (None, "cat"), (None, None)):
        c.add("pets.pet", exp, got)
    assert (c.right, c.wrong, c.omitted, c.invented, c.total) == (1, 1, 1, 1, 4)
    assert c.summary()["top_option_share"] == {"pets.pet": pytest.approx(2 / 3, abs=0.001)}
