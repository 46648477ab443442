"""Every third-party module the code imports is pinned directly in a requirements file.

A module that arrives only as someone else's dependency (``jsonschema_rs`` came
with schemathesis, a test tool) works on a dev box and vanishes from a
production venv built from ``requirements.txt`` alone, or when that tool drops it.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "tasks", "etl", "inference")
# Only for the optional model conversion (requirements-convert.txt pulls them; inference/convert.py).
OPTIONAL = {"torch", "sentence_transformers"}


def _imports() -> set[str]:
    names: set[str] = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(PACKAGES) - set(sys.stdlib_module_names) - {"__future__"}


def _pinned() -> set[str]:
    out: set[str] = set()
    for req in ROOT.glob("requirements*.txt"):
        for line in req.read_text().splitlines():
            m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==", line.strip())
            if m:
                out.add(re.sub(r"[-_.]+", "-", m.group(1)).lower())
    return out


def test_every_imported_distribution_is_pinned() -> None:
    dists = packages_distributions()
    pinned = _pinned()
    missing = {}
    for module in sorted(_imports() - OPTIONAL):
        owners = {re.sub(r"[-_.]+", "-", d).lower() for d in dists.get(module, [])}
        assert owners, f"{module} is imported but not installed"
        if not owners & pinned:
            missing[module] = sorted(owners)
    assert not missing, f"imported but not pinned in requirements*.txt: {missing}"
