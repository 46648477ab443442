"""systemd's own checks on the committed units: verify and exposure scores."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.ops.conftest import ROOT, run, tool

UNIT_DIR = ROOT / "systemd"
SERVICES = sorted(p.name for p in UNIT_DIR.glob("*.service"))
# systemd-analyze's --threshold is the exposure x10: "< 1.0" is 9, "< 1.5" is 14
THRESHOLDS = {"fms-worker-ai.service": 14}
DEFAULT_THRESHOLD = 9


def _fake_root(tmp_path: Path) -> Path:
    """A root with the units, systemd's own units and stub executables, so
    verify checks every Exec path without an installed release."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for unit in UNIT_DIR.iterdir():
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    text = "".join(p.read_text() for p in UNIT_DIR.glob("*.service"))
    for path in set(re.findall(r"^Exec\w+=-?(/\S+)", text, flags=re.M)):
        stub = root / path.lstrip("/")
        if not stub.exists():
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\n")
            stub.chmod(0o755)
    return root


def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    root = _fake_root(tmp_path)
    units = sorted(p.name for p in UNIT_DIR.iterdir())
    result = run([tool("systemd-analyze"), "verify", "--man=no", f"--root={root}", *units], cwd=UNIT_DIR)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # warnings (unknown keys...) count too


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    root = _fake_root(tmp_path)
    unit = root / "etc/systemd/system/fms-api.service"
    unit.write_text(unit.read_text().replace("KillMode=mixed", "KillMode=sometimes"))
    result = run([tool("systemd-analyze"), "verify", "--man=no", f"--root={root}", "fms-api.service"])
    assert "kill mode" in result.stderr.lower()


def _exposure(unit: str) -> float:
    result = run([tool("systemd-analyze"), "security", "--offline=yes", "--no-pager", unit], cwd=UNIT_DIR)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


@pytest.mark.parametrize("unit", SERVICES)
def test_exposure_is_below_the_threshold(unit: str) -> None:
    threshold = THRESHOLDS.get(unit, DEFAULT_THRESHOLD)
    result = run([tool("systemd-analyze"), "security", "--offline=yes", f"--threshold={threshold}",
                  "--no-pager", unit], cwd=UNIT_DIR)
    assert result.returncode == 0, f"{unit}: exposure {_exposure(unit)} > {threshold / 10}\n{result.stdout}"
    assert _exposure(unit) * 10 <= threshold


def test_threshold_check_fails_for_a_weak_unit(tmp_path: Path) -> None:
    weak = tmp_path / "fms-weak.service"
    weak.write_text("[Service]\nExecStart=/bin/true\nUser=fms\n")
    result = run([tool("systemd-analyze"), "security", "--offline=yes", f"--threshold={DEFAULT_THRESHOLD}",
                  "--no-pager", weak.name], cwd=tmp_path)
    assert result.returncode != 0
