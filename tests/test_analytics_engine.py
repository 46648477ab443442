"""etl/analytics.py on real SQLite, real Parquet from the daily export and real DuckDB.

The seeded form (tests/analytics_seed.py) has rows in the export, rows only
in the store, one exported draft completed and edited after its export and
one exported row deleted after it. Every expected figure below is worked out
by hand from the seed, so a row counted twice, a stale exported copy or a
missed live row changes a number.
"""

from __future__ import annotations

import statistics
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from app.store import AnswerFilter, SubmissionQuery
from app.store.sqlite import SQLiteStore
from etl.analytics import SummaryRequest, exported_days, summarize, summary_csv, timeseries
from etl.export import export_day
from tests.analytics_seed import FORM_ID, seed

AGES = [30, 22, 50, 25, 35]  # r1, r3 (edited after export), r4, r5, r6; r2 deleted, r7 none


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[SQLiteStore, Path, dict[str, Any]]:
    store = SQLiteStore(tmp_path / "fms.sqlite3")
    store.migrate()
    exports = tmp_path / "exports"
    form = seed(store, exports)
    yield store, exports, form
    store.close()


def _summary(seeded: tuple[SQLiteStore, Path, dict[str, Any]], hide: frozenset[str] = frozenset({"secret"}),
             **query: Any) -> dict[str, Any]:
    store, exports, form = seeded
    split = query.pop("split_by", None)
    return summarize(store, exports, SummaryRequest(form, SubmissionQuery(form_id=FORM_ID, **query), split, hide))


def test_both_days_are_exported_and_read_from_parquet(seeded: Any) -> None:
    _, exports, _ = seeded
    days = exported_days(exports, FORM_ID)
    assert [d.day.isoformat() for d in days] == ["2025-03-01", "2025-03-02"]
    assert all(d.parquet is not None and d.since > "2025-03-03" for d in days)


def test_summary_equals_hand_computed_figures(seeded: Any) -> None:
    s = _summary(seeded)
    assert s["total"] == 6
    assert s["status"] == {"draft": 1, "submitted": 4, "in_review": 0, "approved": 1, "rejected": 0,
                           "quarantined": 0}
    assert s["drafts"] == {"open": 1, "completed": 1}
    f = s["fields"]
    assert f["topic"] == {"kind": "enum", "count": 6, "missing": 0, "redacted": False, "unexpected": 1, "options": [
        {"value": "billing", "count": 2, "pct": 33.3}, {"value": "bug", "count": 2, "pct": 33.3},
        {"value": "other", "count": 1, "pct": 16.7}]}
    assert f["ok"]["options"] == [{"value": True, "count": 3, "pct": 100.0}, {"value": False, "count": 0, "pct": 0.0}]
    assert (f["ok"]["count"], f["ok"]["missing"]) == (3, 3)
    assert f["tags"]["options"] == [{"value": v, "count": 1, "pct": 50.0} for v in ("a", "b", "c")]
    assert (f["tags"]["count"], f["tags"]["unexpected"]) == (2, 1)
    age = f["age"]
    assert (age["kind"], age["count"], age["missing"], age["min"], age["max"]) == ("number", 5, 1, 22, 50)
    assert age["mean"] == pytest.approx(statistics.mean(AGES))
    assert age["median"] == 30 and age["p25"] == 25 and age["p75"] == 35
    assert age["stdev"] == pytest.approx(statistics.stdev(AGES))
    assert [b["count"] for b in age["histogram"]] == [1, 1, 1, 0, 1, 0, 0, 0, 0, 1]  # 10 bins of 2.8 from 22
    nps = f["nps"]  # 10, 3, 9, 8: two promoters, one passive, one detractor
    assert (nps["kind"], nps["count"], nps["promoters"], nps["passives"], nps["detractors"]) == ("nps", 4, 2, 1, 1)
    assert nps["score"] == 25.0
    assert [(b["lo"], b["count"]) for b in nps["histogram"]] == [(3, 1), (4, 0), (5, 0), (6, 0), (7, 0), (8, 1),
                                                                 (9, 1), (10, 1)]
    note = f["note"]
    assert (note["count"], note["distinct"]) == (4, 3)
    assert note["top"] == [{"value": "hi", "count": 2}, {"value": "hey", "count": 1}, {"value": "yo", "count": 1}]
    assert sorted(note["samples"]) == ["hey", "hi", "yo"]
    assert f["born"] == {"kind": "date", "count": 2, "missing": 4, "redacted": False, "min": "1990-05-05",
                         "max": "2000-01-01", "per_day": [{"date": "1990-05-05", "count": 1},
                                                          {"date": "2000-01-01", "count": 1}]}
    seen = f["seen"]  # 23:30 at -05:00 is 04:30 UTC the next day
    assert (seen["min"], seen["max"]) == ("2025-03-01T10:00:00.000000Z", "2025-03-03T04:30:00.000000Z")
    assert seen["per_day"] == [{"date": "2025-03-01", "count": 1}, {"date": "2025-03-03", "count": 1}]
    assert f["secret"] == {"kind": "string", "count": 2, "missing": 4, "redacted": True}
    assert s["split"] is None and s["as_of"].endswith("Z")


def test_privileged_caller_sees_sensitive_values_despite_the_redacted_export(seeded: Any) -> None:
    secret = _summary(seeded, hide=frozenset())["fields"]["secret"]
    assert secret["redacted"] is False and secret["count"] == 2
    assert sorted(t["value"] for t in secret["top"]) == ["s1", "s4"]  # the files say "[redacted]"


def test_an_export_with_sensitive_values_serves_privileged_callers_from_the_files(seeded: Any) -> None:
    store, exports, _ = seeded
    redacted = _summary(seeded, hide=frozenset())
    for day in (date(2025, 3, 1), date(2025, 3, 2)):
        export_day(store, day, exports, include_sensitive=True)  # re-run: files rewritten with the values
    assert [d.redacted for d in exported_days(exports, FORM_ID)] == [False, False]
    full = _summary(seeded, hide=frozenset())
    assert {k: v for k, v in full.items() if k != "as_of"} == {k: v for k, v in redacted.items() if k != "as_of"}


def test_filter_or_split_on_a_sensitive_field_reads_the_store_not_the_redacted_files(seeded: Any) -> None:
    by_secret = _summary(seeded, answers=(AnswerFilter("secret", "eq", "s1"),))
    assert by_secret["total"] == 1 and by_secret["fields"]["topic"]["options"][0]["count"] == 1  # r1 only
    assert by_secret["fields"]["secret"]["redacted"] is True
    assert _summary(seeded, hide=frozenset(), answers=(AnswerFilter("secret", "ne", "s1"),))["total"] == 1  # r4


def test_filters_apply_to_exported_and_live_rows(seeded: Any) -> None:
    assert _summary(seeded, statuses=("submitted",))["total"] == 4
    billing = _summary(seeded, answers=(AnswerFilter("topic", "eq", "billing"),))
    assert billing["total"] == 2 and billing["fields"]["age"]["mean"] == pytest.approx(26)  # r1 30, r3 22
    assert _summary(seeded, answers=(AnswerFilter("age", "gte", 30),))["total"] == 3  # r1, r4, r6
    assert _summary(seeded, answers=(AnswerFilter("topic", "in", ("bug", "other")),))["total"] == 3
    assert _summary(seeded, created_after="2025-03-02T00:00:00.000000Z")["total"] == 4
    assert _summary(seeded, answers=(AnswerFilter("ok", "eq", True),))["total"] == 3


def test_split_by_an_enum_gives_each_group_its_own_summary(seeded: Any) -> None:
    split = _summary(seeded, split_by="topic")["split"]
    assert split["field"] == "topic"
    assert [(g["value"], g["total"]) for g in split["groups"]] == [("billing", 2), ("bug", 2), ("other", 1),
                                                                  ("weird", 1)]
    billing = split["groups"][0]["fields"]
    assert billing["age"]["count"] == 2 and billing["age"]["median"] == pytest.approx(26)
    assert split["groups"][1]["fields"]["age"]["count"] == 1  # r6; r7 has no age, r2 is deleted
    by_ok = _summary(seeded, split_by="ok")["split"]["groups"]
    assert [(g["value"], g["total"]) for g in by_ok] == [(True, 3), (None, 3)]  # ties: missing last


def test_timeseries_buckets_by_local_day_week_and_month(seeded: Any) -> None:
    store, exports, form = seeded
    q = SubmissionQuery(form_id=FORM_ID)

    def points(interval: str, tz: str) -> list[tuple[str, int]]:
        return [(p["start"], p["count"]) for p in timeseries(store, exports, form, q, interval, tz)["points"]]

    assert points("day", "UTC") == [("2025-03-01", 2), ("2025-03-02", 2), ("2025-03-03", 2)]
    # r1 at 03:00Z is the evening of Feb 28 in New York
    assert points("day", "America/New_York") == [("2025-02-28", 1), ("2025-03-01", 1), ("2025-03-02", 2),
                                                  ("2025-03-03", 2)]
    assert points("week", "America/New_York") == [("2025-02-24", 4), ("2025-03-03", 2)]
    assert points("month", "America/New_York") == [("2025-02-01", 1), ("2025-03-01", 5)]
    day = timeseries(store, exports, form, q, "day", "UTC")["points"]
    assert day[2]["by_status"] == {"submitted": 1, "draft": 1}
    assert day[0]["by_status"] == {"submitted": 2}  # r3 counts as what it is now


def test_without_any_export_everything_is_live_and_the_same(tmp_path: Path, seeded: Any) -> None:
    other = SQLiteStore(tmp_path / "live-only.sqlite3")
    other.migrate()
    form = seed(other, None)
    live = summarize(other, tmp_path / "none", SummaryRequest(form, SubmissionQuery(form_id=FORM_ID), "topic",
                                                               frozenset({"secret"})))
    mixed = _summary(seeded, split_by="topic")
    for key in ("total", "status", "drafts", "fields", "split"):
        assert live[key] == mixed[key], key


def test_rollups_are_built_once_per_exported_file_and_replaced_on_re_export(seeded: Any) -> None:
    store, exports, _ = seeded
    rollups = sorted((exports / "analytics").rglob("values-*.parquet"))
    assert len(rollups) == 2  # one per exported day of the form, built by the export itself
    first = _summary(seeded)
    stamps = [p.stat().st_mtime_ns for p in rollups]
    assert _summary(seeded)["fields"] == first["fields"]
    assert [p.stat().st_mtime_ns for p in rollups] == stamps  # read, not rebuilt
    export_day(store, date(2025, 3, 1), exports)  # a re-run rewrites day 1
    again = _summary(seeded)
    now = sorted((exports / "analytics").rglob("values-*.parquet"))
    assert len(now) == 2 and now != rollups and again["fields"] == first["fields"]
    filtered = _summary(seeded, statuses=("approved",))  # filters read the files themselves
    assert filtered["total"] == 1


def test_an_unreadable_export_file_falls_back_to_the_store(seeded: Any) -> None:
    store, exports, form = seeded
    expected = _summary(seeded)
    [day1, _] = exported_days(exports, FORM_ID)
    assert day1.parquet is not None
    day1.parquet.write_bytes(b"not parquet at all")  # truncated by a full disk, say
    got = _summary(seeded)
    assert {k: v for k, v in got.items() if k != "as_of"} == {k: v for k, v in expected.items() if k != "as_of"}
    points = timeseries(store, exports, form, SubmissionQuery(form_id=FORM_ID), "day", "UTC")["points"]
    assert [p["count"] for p in points] == [2, 2, 2]


def test_csv_lists_every_figure(seeded: Any) -> None:
    text = summary_csv(_summary(seeded))
    lines = text.splitlines()
    assert lines[0] == "group,field,kind,measure,value,count,pct"
    assert ",,,total,,6," in lines
    assert ",topic,enum,option,billing,2,33.3" in lines
    assert ",age,number,median,30.0,," in lines


def test_the_engine_runs_within_the_settings_duckdb_budget(tmp_path: Path) -> None:
    """An API worker shares its unit's MemoryMax: DuckDB gets the configured limit and a spill dir."""
    from app.analytics.service import AnalyticsService
    from etl.analytics import _connect
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, "", analytics_memory_limit="64MB", analytics_threads=1)
    limits = AnalyticsService.from_settings(None, None, settings, None).limits  # type: ignore[arg-type]
    con = _connect(limits)
    try:
        memory, threads, spill = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads'), "
            "current_setting('temp_directory')").fetchone()
    finally:
        con.close()
    assert memory == "61.0 MiB"  # 64 MB, as DuckDB prints it
    assert int(threads) == 1
    assert spill == str(tmp_path / "data" / "analytics-tmp")
