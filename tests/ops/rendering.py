"""Render role templates through Ansible itself, with every role's defaults loaded.

Why not plain Jinja2: the defaults refer to each other (``fms_monitoring_alertmanager`` is
``{{ fms_monitoring_prometheus }}``) and templates use Ansible's filters and ``ansible_managed``;
only Ansible renders them the way a host gets them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.ops.conftest import ROOT, run, tool

ROLES = ROOT / "ansible" / "roles"


def render_templates(out: Path, env: dict[str, str], templates: list[tuple[str, str, dict[str, Any]]],
                     extra_vars: dict[str, Any] | None = None) -> dict[str, Path]:
    """Render ``(role-relative template, output name, task vars)`` into ``out``; ``extra_vars``
    outrank the role defaults (as ``-e`` does). Returns output name -> rendered path."""
    out.mkdir(parents=True, exist_ok=True)
    tasks = [{"name": dest, "ansible.builtin.template": {"src": str(ROLES / src), "dest": str(out / dest),
                                                         "mode": "0644"}, "vars": task_vars}
             for src, dest, task_vars in templates]
    book = out / "render.yml"
    book.write_text(yaml.safe_dump([{
        "name": "render", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": sorted(str(p) for p in ROLES.glob("*/defaults/main.yml")), "tasks": tasks,
    }]))
    extra = out / "extra.json"
    extra.write_text(json.dumps({"ansible_python_interpreter": sys.executable, **(extra_vars or {})}))
    result = run([tool("ansible-playbook"), "-i", "localhost,", "-e", f"@{extra}", str(book)],
                 cwd=ROOT / "ansible", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return {dest: out / dest for _, dest, _ in templates}
