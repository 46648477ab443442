"""Shared helpers for the operations checks (units, Ansible, profiles, rules).

The tools come from scripts/apt-packages.txt (systemd, apparmor, logrotate,
prometheus) and requirements-ops.txt (ansible-core, ansible-lint), which
scripts/test installs; a missing tool fails with the install hint rather than
skipping, so CI cannot pass without running the check. Only `docker compose`
is optional (no compose binary is packaged for every target).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """Path of a command-line tool from the venv or PATH, or fail with the hint."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        pytest.fail(f"{name} is not installed: scripts/test installs it from "
                    "scripts/apt-packages.txt / requirements-ops.txt")
    return found


def run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def ansible_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Keep Ansible's and ansible-lint's caches out of the repository."""
    home = tmp_path_factory.mktemp("ansible-home")
    env = dict(os.environ)
    env.update({
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "NO_COLOR": "1",
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
    })
    return env
