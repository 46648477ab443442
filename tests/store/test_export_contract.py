"""Store.export_submissions: the streamed export's page read, the same rows as the list on every backend."""

from __future__ import annotations

import json
from dataclasses import replace

from app.store import AnswerFilter, Store, SubmissionQuery
from app.store.base import EXPORT_COLUMNS
from tests.store.test_contract import form, submission


def _answers(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def test_export_pages_match_the_list_in_order_and_content(store: Store) -> None:
    f = form()
    store.create_form(f)
    made = [submission(f["id"], i, {"age": i, "tags": ["a"]}, status="approved" if i % 2 else "submitted")
            for i in range(25)]
    for sub in made:
        store.insert_submission(sub, [], None)
    q = SubmissionQuery(form_id=f["id"], statuses=("approved",), answers=(AnswerFilter("age", "gte", 5),), limit=4)
    got, after = [], None
    while True:
        page = store.export_submissions(replace(q, after=after))
        got.extend(page)
        if len(page) < q.limit:
            break
        after = (page[-1][EXPORT_COLUMNS.index("created_at")], page[-1][0])
    listed = store.query_submissions(replace(q, limit=100))
    assert [r[0] for r in got] == [r["id"] for r in listed] and len(got) == 10
    first = dict(zip(EXPORT_COLUMNS, got[0], strict=True))
    assert _answers(first.pop("answers")) == listed[0]["answers"]
    assert first == {k: listed[0].get(k) for k in EXPORT_COLUMNS if k != "answers"}
    assert store.export_submissions(replace(q, form_id="nope")) == []
