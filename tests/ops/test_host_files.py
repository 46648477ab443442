"""AppArmor profiles, logrotate config, alert rules and the Grafana dashboard."""

from __future__ import annotations

import getpass
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.ops.conftest import ROOT, run, tool

PROFILES = sorted((ROOT / "apparmor").iterdir())


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_apparmor_profile_parses(profile: Path) -> None:
    result = run([tool("apparmor_parser"), "-Q", "-K", str(profile)])
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^profile {profile.name} ", profile.read_text(), flags=re.M), "name must match the unit"


def test_apparmor_parser_rejects_a_broken_profile(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.write_text((ROOT / "apparmor" / "fms-app").read_text().replace("/opt/fms/** rm,", "/opt/fms/** rmz,"))
    assert run([tool("apparmor_parser"), "-Q", "-K", str(broken)]).returncode != 0


def test_units_attach_shipped_profiles() -> None:
    names = {p.name for p in PROFILES}
    for unit in (ROOT / "systemd").glob("*.service"):
        for profile in re.findall(r"^AppArmorProfile=-?(\S+)", unit.read_text(), flags=re.M):
            assert profile in names, f"{unit.name} attaches {profile}, which apparmor/ does not ship"


def _logrotate_config(tmp_path: Path, log_dir: Path) -> Path:
    """The shipped config, pointed at a temporary log dir and the current user."""
    user = getpass.getuser()
    text = (ROOT / "logrotate" / "fms").read_text()
    text = text.replace("/var/log/fms", str(log_dir)).replace("fms fms", f"{user} {user}")
    marker = tmp_path / "reopened"
    text = re.sub(r"postrotate\n.*?\n\s*endscript", f"postrotate\n        touch {marker}\n    endscript",
                  text, flags=re.S)
    conf = tmp_path / "fms.conf"
    conf.write_text(text)
    return conf


def test_logrotate_config_is_valid_and_renames_then_signals(tmp_path: Path) -> None:
    shipped = "\n".join(line for line in (ROOT / "logrotate" / "fms").read_text().splitlines()
                        if not line.lstrip().startswith("#"))
    assert "copytruncate" not in shipped and "rotate 7" in shipped
    assert "--signal=USR1" in shipped and "fms-api.service" in shipped
    log_dir = tmp_path / "log"
    log_dir.mkdir(mode=0o750)
    log = log_dir / "api-access.log"
    log.write_text("line one\n")
    conf = _logrotate_config(tmp_path, log_dir)
    debug = run([tool("logrotate"), "-d", "-s", str(tmp_path / "state"), str(conf)])
    assert debug.returncode == 0 and "error:" not in debug.stderr + debug.stdout, debug.stderr
    inode = log.stat().st_ino
    forced = run([tool("logrotate"), "-f", "-s", str(tmp_path / "state"), str(conf)])
    assert forced.returncode == 0, forced.stderr
    rotated = [p for p in log_dir.iterdir() if p.name.startswith("api-access.log-")]
    assert len(rotated) == 1 and rotated[0].stat().st_ino == inode, "renamed, not copied"
    assert rotated[0].read_text() == "line one\n"
    assert log.exists() and log.read_text() == "", "a fresh file is created for the reopen"
    assert (tmp_path / "reopened").exists(), "postrotate (the reopen signal) ran"


def test_alert_rules_pass_promtool() -> None:
    result = run([tool("promtool"), "check", "rules", str(ROOT / "monitoring" / "alerts.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_runbook_entry() -> None:
    rules = yaml.safe_load((ROOT / "monitoring" / "alerts.yml").read_text())
    runbook = (ROOT / "docs" / "operations.md").read_text().lower()
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) >= 8
    for rule in alerts:
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert f"### {rule['alert'].lower()}" in runbook, f"docs/operations.md lacks a runbook for {rule['alert']}"
        assert anchor == rule["alert"].lower()


def test_grafana_dashboard_is_importable() -> None:
    dash = json.loads((ROOT / "monitoring" / "grafana" / "fms-dashboard.json").read_text())
    assert dash["uid"] and dash["title"] and dash["panels"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
