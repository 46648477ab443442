"""inference/ is a standalone library: it must not import Flask, Dramatiq or the app."""

from __future__ import annotations

import ast
from pathlib import Path

from inference.isolation import default_specs

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("flask", "dramatiq", "app", "tasks", "etl")


def test_no_upward_imports():
    offenders = []
    for path in (ROOT / "inference").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_default_specs(model_paths):
    specs = default_specs(model_paths["models_dir"].parent, threads=3)
    assert specs["llm"].kind == "llama" and specs["llm"].config["n_threads"] == 3
    assert specs["embedder"].tokenizer_path.endswith("tokenizer.json")
