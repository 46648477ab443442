"""The process tree's declarations for the ops tests, wherever the tree module lives.

The tree may move from ``app/process_tree.py`` into a ``deploy/`` package; the tests that
compare shipped files (the rollback script's units, the architecture diagram) with it read
it through here so they follow the move.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

CANDIDATES = ("deploy.process_tree", "deploy.tree", "deploy", "app.process_tree")


def tree_module() -> ModuleType:
    """The first candidate module that declares ``PROCESSES``."""
    for name in CANDIDATES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        if hasattr(module, "PROCESSES"):
            return module
    raise AssertionError(f"no process tree module among {CANDIDATES}")


def processes() -> list[Any]:
    """Every declared process row."""
    return list(tree_module().PROCESSES)


def systemd_processes() -> list[Any]:
    """The rows that become services on a systemd host (enabled, not only-when-embedded)."""
    return [p for p in processes() if getattr(p, "enabled", True) and not getattr(p, "embedded_only", False)]
