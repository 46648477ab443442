"""Daily export to JSONL and Parquet: partitioned, idempotent, redacted, day-exact."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from app.services import Services
from etl.export import export_day
from tests.test_cli import fms

DAY = date(2026, 3, 14)


def _seed(svc: Services, form: dict[str, Any], created_at: str, n: int, name: str) -> list[str]:
    ids = []
    for i in range(n):
        sid = f"{created_at[:10].replace('-', '')}{name}{i:04d}"
        svc.store.insert_submission({
            "id": sid, "form_id": form["id"], "form_version": 1, "status": "submitted",
            "answers": {"name": f"{name}{i}", "email": "a@example.org", "phone": "+1 555 0100"}, "meta": {},
            "rev": 1, "created_by": None, "created_at": created_at, "updated_at": created_at, "deleted_at": None,
        }, [], None)
        ids.append(sid)
    return ids


def test_export_writes_one_partition_per_form_and_day(svc: Services, form: dict[str, Any], tmp_path: Path) -> None:
    first = _seed(svc, form, "2026-03-14T00:00:00.000000Z", 3, "a")  # the first microsecond of the day
    last = _seed(svc, form, "2026-03-14T23:59:59.999999Z", 1002, "b")  # the last one; more than a page
    _seed(svc, form, "2026-03-13T23:59:59.999999Z", 2, "c")
    _seed(svc, form, "2026-03-15T00:00:00.000000Z", 2, "d")
    out = tmp_path / "exports"
    [result] = export_day(svc.store, DAY, out)
    assert result.rows == 1005
    table = pq.read_table(out / "parquet")  # hive partitions become columns
    assert table.num_rows == 1005 and set(table.column("id").to_pylist()) == set(first + last)
    assert set(table.column("date").to_pylist()) == {"2026-03-14"}
    lines = result.jsonl.read_text().splitlines()
    assert len(lines) == 1005
    answers = json.loads(json.loads(lines[0])["answers"])
    assert answers["phone"] == "[redacted]" and answers["email"] == "a@example.org"
    again = export_day(svc.store, DAY, out)  # a re-run replaces, never doubles
    assert again[0].rows == 1005 and pq.read_table(out / "parquet").num_rows == 1005
    assert not list(out.rglob("*.tmp"))


def test_fms_export_command(settings: Any, svc: Services, form: dict[str, Any]) -> None:
    _seed(svc, form, "2026-03-14T12:00:00.000000Z", 2, "x")
    done = fms(settings, "export", "--date", "2026-03-14", "--include-sensitive")
    assert done.returncode == 0, done.stderr
    assert "exported 2 submissions of 2026-03-14 from 1 forms" in done.stdout
    part = settings.data_dir / "exports" / "jsonl" / f"form_id={form['id']}" / "date=2026-03-14"
    row = json.loads((part / "submissions.jsonl").read_text().splitlines()[0])
    assert json.loads(row["answers"])["phone"] == "+1 555 0100"
    bad = fms(settings, "export", "--date", "14/03/2026")
    assert bad.returncode != 0 and "YYYY-MM-DD" in bad.stderr
