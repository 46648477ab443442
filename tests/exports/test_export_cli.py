"""`fms export FORM_ID --format F --out FILE` beside the daily `fms export --date D`."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from app.services import Services
from app.settings import Settings
from etl import stream
from tests.exports.conftest import seed
from tests.test_cli import fms


def test_export_form_to_a_file_with_every_row(settings: Settings, svc: Services, form: dict[str, Any],
                                              tmp_path: Path) -> None:
    seed(svc, form, stream.PAGE + 5)
    out = tmp_path / "out" / "all.csv"
    out.parent.mkdir()
    done = fms(settings, "export", form["id"], "--format", "csv", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"exported {stream.PAGE + 5} submissions of form {form['id']}" in done.stdout
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == stream.PAGE + 5 and {r["phone"] for r in rows} == {"[redacted]"}
    assert not list(out.parent.glob("*.part"))
    kept = tmp_path / "all.parquet"
    assert fms(settings, "export", form["id"], "--format", "parquet", "--out", str(kept),
               "--include-sensitive").returncode == 0
    assert pq.read_table(kept).column("phone").to_pylist()[0] == f"+1 555 {stream.PAGE + 4:04d}"


def test_export_form_usage_errors(settings: Settings, svc: Services, form: dict[str, Any], tmp_path: Path) -> None:
    no_out = fms(settings, "export", form["id"])
    assert no_out.returncode == 2 and "--out" in no_out.stderr
    both = fms(settings, "export", form["id"], "--date", "2026-01-01", "--out", str(tmp_path / "x.csv"))
    assert both.returncode == 2 and "--date" in both.stderr
    bad = fms(settings, "export", form["id"], "--format", "pdf", "--out", str(tmp_path / "x.pdf"))
    assert bad.returncode == 2
    missing = fms(settings, "export", "01NOSUCHFORM", "--out", str(tmp_path / "x.csv"))
    assert missing.returncode == 1 and "not found" in missing.stderr and not (tmp_path / "x.csv").exists()
    daily = fms(settings, "export", "--date", "2026-01-01")  # the daily export still works beside it
    assert daily.returncode == 0 and "submissions of 2026-01-01" in daily.stdout
