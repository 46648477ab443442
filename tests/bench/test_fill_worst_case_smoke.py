"""Smoke test for scripts/bench/fill_worst_case.py at a small size (the real run is the benchmark).

Why: its figures are only meaningful if every text is as long as asked, dense in what it claims to
be dense in, and filled on a form that reaches each extractor; a slip would time something else.
"""

from __future__ import annotations

from inference import extract as ex
from inference.fill import fill
from scripts.bench.fill_worst_case import FORM, main, texts


def test_texts_are_as_long_as_asked_and_dense_in_their_kind() -> None:
    made = texts(2000)
    assert set(made) == {"baseline", "dates", "numbers", "codes", "names"}
    assert all(1900 <= len(t) <= 2000 for t in made.values())
    assert len(ex.dates(made["dates"])) > 100
    assert len(ex.amounts(made["numbers"])) > 10 and len(ex.quantities(made["numbers"])) > 20
    assert len(ex.codes(made["codes"])) > 20
    assert fill(None, FORM, made["dates"]).answers.get("visit_date") == "1990-03-01"


def test_the_report_has_every_text_with_its_ratio_to_the_baseline(tmp_path) -> None:
    out = tmp_path / "worst.json"
    report = main(["--chars", "1500", "--reps", "1", "--json", str(out)])
    assert out.exists() and report["chars"] == 1500
    assert report["fills"]["baseline"]["x_baseline"] == 1.0
    assert all(v["seconds"] > 0 for v in report["fills"].values())
