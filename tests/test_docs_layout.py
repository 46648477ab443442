"""The README's layout table names every package and every top-level folder, and nothing that is gone.

A newcomer reads that table to find where a thing lives; a package added without a row
(nine were missing at once before this test) sends them grepping instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_ROOTS = ("app", "tasks", "etl", "inference")


def _layout_folders() -> set[str]:
    """Every `folder/` named in the first column of the table under '## Layout'."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows, "README.md has no layout table under '## Layout'"
    return {name.rstrip("/") for row in rows for name in re.findall(r"`([^`]+/)`", row.split("|")[1])}


def _packages() -> set[str]:
    return {str(init.parent.relative_to(ROOT)) for top in PACKAGE_ROOTS for init in (ROOT / top).rglob("__init__.py")
            if "__pycache__" not in init.parts}


def _tracked_top_folders() -> set[str]:
    """Top-level folders holding a tracked file (build output, venvs and data folders are ignored by git)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked folders are unknown")
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {line.split("/", 1)[0] for line in out.splitlines() if "/" in line}


def test_every_package_has_a_row() -> None:
    missing = sorted(_packages() - _layout_folders())
    assert not missing, f"README.md's layout table does not name: {missing}"


def test_every_top_level_folder_has_a_row() -> None:
    missing = sorted(_tracked_top_folders() - _layout_folders())
    assert not missing, f"README.md's layout table does not name: {missing}"


def test_every_folder_the_table_names_exists() -> None:
    gone = sorted(name for name in _layout_folders() if not (ROOT / name).is_dir())
    assert not gone, f"README.md's layout table names folders that do not exist: {gone}"
