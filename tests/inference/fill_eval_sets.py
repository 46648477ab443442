"""Readers for the AI-fill evaluation sets under tests/data/fill_eval (forms, narratives, builders).

Each set is a forms folder (``<form>.json`` + ``kinds.json`` + ``_build.py``) and the JSONL its
builder writes; the data tests of every set read them the same way.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "fill_eval"
KINDS = {"name", "place", "date", "time", "amount", "count", "code", "enum", "boolean",
         "free_text", "email", "phone"}


def forms(folder: Path) -> dict[str, dict[str, Any]]:
    """The forms of a set by name (``kinds.json`` is not a form)."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if p.name != "kinds.json"}


def rows(jsonl: str) -> list[dict[str, Any]]:
    """The narratives of a set: one ``{"id", "form", "text", "expected"}`` per line."""
    lines = (DATA / jsonl).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def builder(folder: Path) -> ModuleType:
    """A set's ``_build.py``, imported (its ``check()`` and ``records()``)."""
    spec = importlib.util.spec_from_file_location(f"{folder.name}_build", folder / "_build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
