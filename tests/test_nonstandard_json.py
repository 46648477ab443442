"""Request bodies with NaN/Infinity (read by :mod:`json`, written back by orjson as null) are refused."""

from __future__ import annotations

from typing import Any

import pytest

from app import fastjson
from app.services import Services
from app.store import SubmissionQuery
from tests.conftest import Api


@pytest.mark.parametrize(("raw", "named"), [
    (b'{"answers": {"age": NaN}}', "NaN"),
    (b'{"answers": {"age": Infinity}}', "Infinity"),
    (b'{"answers": {"age": -Infinity}}', "-Infinity"),
    (b'{"answers": {"age": 1e400}}', "1e400"),
    (b'{"answers": {"age": NaN}, "n": 12345678901234567890123}', "NaN"),  # the long-digit path too
])
def test_non_standard_numbers_are_400_and_write_nothing(api: Api, form: dict[str, Any], svc: Services,
                                                        raw: bytes, named: str) -> None:
    resp = api.call("POST", f"/api/v1/forms/{form['id']}/submissions", data=raw,
                    headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, resp.json
    err = resp.json["error"]
    assert set(err) == {"code", "message", "details", "request_id"}
    assert err["code"] == "malformed_json" and named in err["message"]
    assert svc.store.count_submissions(SubmissionQuery(form_id=form["id"])) == 0


def test_standard_loads_still_reads_what_orjson_cannot() -> None:
    assert fastjson.loads_standard(b'{"a": 12345678901234567890123, "b": 1.5}') == {
        "a": 12345678901234567890123, "b": 1.5}
    assert fastjson.loads(b'{"a": NaN}') != {"a": None}  # stored rows keep json's reading
