"""`fms analytics FORM_ID`: the API's summary from the shell, on a real data dir."""

from __future__ import annotations

import json

from app.services import Services
from app.settings import Settings
from tests.analytics_seed import FORM_ID, seed
from tests.test_cli import fms


def test_fms_analytics_prints_the_summary_as_json_and_csv(settings: Settings, svc: Services) -> None:
    seed(svc.store, svc.settings.export_dir)
    out = fms(settings, "analytics", FORM_ID)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["total"] == 6 and body["fields"]["age"]["median"] == 30
    assert body["fields"]["secret"]["redacted"] is True  # counts only unless asked
    shown = json.loads(fms(settings, "analytics", FORM_ID, "--include-sensitive").stdout)
    assert sorted(t["value"] for t in shown["fields"]["secret"]["top"]) == ["s1", "s4"]
    split = json.loads(fms(settings, "analytics", FORM_ID, "--split-by", "topic").stdout)
    assert split["split"]["groups"][0] == {**split["split"]["groups"][0], "value": "billing", "total": 2}
    csv = fms(settings, "analytics", FORM_ID, "--format", "csv")
    assert csv.returncode == 0 and csv.stdout.splitlines()[0] == "group,field,kind,measure,value,count,pct"
    assert ",topic,enum,option,billing,2,33.3" in csv.stdout.splitlines()


def test_fms_analytics_bad_input_exits_nonzero(settings: Settings, svc: Services) -> None:
    seed(svc.store, None)
    missing = fms(settings, "analytics", "01JNOSUCHFORM0000000000000")
    assert missing.returncode != 0 and "not found" in missing.stderr
    bad = fms(settings, "analytics", FORM_ID, "--split-by", "age")
    assert bad.returncode != 0 and "not an enum" in bad.stderr
    fmt = fms(settings, "analytics", FORM_ID, "--format", "xml")
    assert fmt.returncode != 0 and "xml" in fmt.stderr
