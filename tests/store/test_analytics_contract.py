"""The analytics part of the store contract: every backend gives the same numbers on the same data.

The live part of a summary is computed *in the database*: SQLite groups over
``json_each``; MongoDB runs aggregation pipelines (``$match`` with the list
filter, ``$objectToArray``/``$unwind``/``$group``), so only grouped counts
leave the server, never submissions. Each backend here gets the same seed
(tests/analytics_seed.py: exported days, live rows, a row changed and one
deleted after export), its own real daily export, and must produce exactly
the summary and time series the SQLite reference does, plus hand-checked
figures.

Caveat: in CI the MongoDB backend runs on mongomock, whose aggregation
support is partial (it emulates the stages and operators used here —
``$objectToArray``, ``$unwind``, ``$group``, ``$substr``, ``$elemMatch`` —
but not MongoDB's type ordering in every corner, indexes or performance).
With ``MONGODB_URI`` set the same test runs against a real server.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from app.store.analytics_base import LiveSpec, Segment
from app.store.base import AnswerFilter, Store, SubmissionQuery
from app.store.sqlite import SQLiteStore
from app.util import now_iso
from etl.analytics import SummaryRequest, summarize, timeseries
from tests.analytics_seed import FORM_ID, seed, sub_id

HIDE = frozenset({"secret"})
CASES = [  # (query, split_by)
    (SubmissionQuery(form_id=FORM_ID), None), (SubmissionQuery(form_id=FORM_ID), "topic"),
    (SubmissionQuery(form_id=FORM_ID), "ok"),
    (SubmissionQuery(form_id=FORM_ID, statuses=("submitted", "draft")), None),
    (SubmissionQuery(form_id=FORM_ID, answers=(AnswerFilter("age", "gte", 25), AnswerFilter("topic", "ne", "bug"))),
     "topic"),
    (SubmissionQuery(form_id=FORM_ID, answers=(AnswerFilter("ok", "eq", True),),
                     created_before="2025-03-03T00:00:00.000000Z"), None),
]
ALL = SubmissionQuery(form_id=FORM_ID)


def _reference(tmp_path: Path) -> tuple[SQLiteStore, Path]:
    ref = SQLiteStore(tmp_path / "reference.sqlite3")
    ref.migrate()
    seed(ref, tmp_path / "ref-exports")
    return ref, tmp_path / "ref-exports"


def _without_time(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "as_of"}


def test_every_backend_summarises_the_seed_like_sqlite(store: Store, tmp_path: Path) -> None:
    form = seed(store, tmp_path / "exports")
    ref, ref_exports = _reference(tmp_path)
    for query, split in CASES:
        got = summarize(store, tmp_path / "exports", SummaryRequest(form, query, split, HIDE))  # type: ignore[arg-type]
        want = summarize(ref, ref_exports, SummaryRequest(form, query, split, HIDE))
        assert _without_time(got) == _without_time(want), (query, split)
    whole = summarize(store, tmp_path / "exports", SummaryRequest(form, ALL, None, HIDE))  # type: ignore[arg-type]
    assert whole["total"] == 6 and whole["drafts"] == {"open": 1, "completed": 1}
    assert whole["fields"]["age"]["median"] == 30 and whole["fields"]["nps"]["score"] == 25.0
    for interval, tz in (("day", "UTC"), ("week", "America/New_York"), ("month", "Asia/Kathmandu")):
        got = timeseries(store, tmp_path / "exports", form, ALL, interval, tz)  # type: ignore[arg-type]
        want = timeseries(ref, ref_exports, form, ALL, interval, tz)
        assert got["points"] == want["points"], (interval, tz)
    ref.close()


def test_purged_rows_do_not_come_back_from_the_export(store: Store, tmp_path: Path) -> None:
    form = seed(store, tmp_path / "exports")  # r2 was exported, then deleted
    before = summarize(store, tmp_path / "exports", SummaryRequest(form, ALL, None, HIDE))  # type: ignore[arg-type]
    assert store.purge_submissions(now_iso(86_400)) == 1 and store.get_submission(sub_id("r2")) is None
    after = summarize(store, tmp_path / "exports", SummaryRequest(form, ALL, None, HIDE))  # type: ignore[arg-type]
    assert after["total"] == before["total"] == 6 and after["fields"] == before["fields"]


def test_live_aggregates_have_one_shape(store: Store, tmp_path: Path) -> None:
    seed(store, None)  # r2 and r3 (day 1) are changed "now", long after 2025
    day1, day2 = "2025-03-01T00:00:00.000000Z", "2025-03-02T00:00:00.000000Z"
    spec = LiveSpec(SubmissionQuery(form_id=FORM_ID),
                    (Segment(None, day1), Segment(day1, day2, "2025-03-02T00:05:00.000000Z"), Segment(day2, None)),
                    ("topic", "tags", "ok"), "topic")
    live = store.analytics_live(spec)  # type: ignore[attr-defined]
    # day 1 as if exported: only its changed rows (r3; r2 is deleted); day 2 on: every row
    groups: Counter[tuple[str, str]] = Counter()
    for s, st, minute, n in live.groups:
        assert len(minute) == 16  # YYYY-MM-DDTHH:MM
        groups[(s, st)] += n
    assert groups == {("billing", "submitted"): 1, ("other", "approved"): 1, ("weird", "submitted"): 1,
                      ("bug", "submitted"): 1, ("bug", "draft"): 1}
    values = {(s, f, str(v)): n for s, f, v, n in live.values}
    assert values[("other", "tags", "['c', 'zzz']")] == 1 and values[("bug", "ok", "True")] == 1
    assert not any(k[0] == "billing" and k[1] != "topic" for k in values)  # r3 has no tags or ok; r1 not live
    assert sorted(live.stale_ids) == sorted(sub_id(s) for s in ("r2", "r3"))  # whatever their state now
    assert store.completed_drafts(SubmissionQuery(form_id=FORM_ID), "topic") == [("billing", 1)]  # type: ignore[attr-defined]


def test_data_version_moves_on_every_submission_write(store: Store) -> None:
    seed(store, None)
    before = store.data_version(FORM_ID)  # type: ignore[attr-defined]
    assert before == 9  # 7 inserts and 2 updates
    sub = store.get_submission(sub_id("r1"))
    assert sub is not None
    revision = {"submission_id": sub["id"], "rev": sub["rev"], "status": sub["status"], "answers": sub["answers"],
                "changed_by": "t", "changed_at": now_iso()}
    store.update_submission(sub["id"], {"status": "approved", "updated_at": now_iso()}, revision, [], sub["rev"])
    assert store.data_version(FORM_ID) == before + 1  # type: ignore[attr-defined]
    assert store.update_submission(sub["id"], {"status": "rejected"}, revision, [], sub["rev"]) is None  # stale rev
    assert store.data_version(FORM_ID) == before + 1  # type: ignore[attr-defined]
    assert store.data_version("01JNOSUCHFORM0000000000000") == 0  # type: ignore[attr-defined]


def test_form_row_count_counts_every_stored_submission_of_the_form(store: Store) -> None:
    """The API's inline-or-queue check: an upper bound (soft-deleted rows too), the same on every backend."""
    seed(store, None)  # 7 submissions, r2 soft-deleted
    assert store.form_row_count(FORM_ID) == 7  # type: ignore[attr-defined]
    assert store.form_row_count("01JNOSUCHFORM0000000000000") == 0  # type: ignore[attr-defined]
