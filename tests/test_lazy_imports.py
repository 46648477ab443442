"""An API worker starts without the heavy libraries: they load on the request paths that need them.

Why it matters: gunicorn's master imports no application module, so every
worker imports the app itself and keeps what it imported as private memory.
numpy, DuckDB and pyarrow cost about 65 MB per worker at start (2 x cores + 1
workers under one ``MemoryMax=512M``); ONNX Runtime and tokenizers belong to
the embedder process, never to the API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "onnxruntime", "onnx", "gguf", "duckdb", "pyarrow", "tokenizers", "llama_cpp")


def _modules_after(code: str, tmp_path: Path, **env_extra: str) -> set[str]:
    """Top-level modules loaded in a fresh interpreter after ``code`` (the app is created by it)."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    env = {**os.environ, "FMS_DATA_DIR": str(tmp_path), "FMS_SECRET_KEY": "lazy-imports-test", **env_extra}
    env.pop("PYTHONSTARTUP", None)
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_creating_the_wsgi_app_imports_no_heavy_library(tmp_path: Path) -> None:
    loaded = _modules_after("import app.wsgi", tmp_path)
    assert "flask" in loaded and "app" in loaded  # the app really was created
    assert sorted(loaded & set(HEAVY)) == []


def test_ready_checks_the_model_files_without_parsing_them(tmp_path: Path) -> None:
    """/ready runs in every worker now and then: reading the ONNX file with ``onnx`` kept ~75 MB there."""
    from inference.models.defaults import ensure_default_models

    models = ensure_default_models(os.environ.get("FMS_TEST_MODELS_DIR", ROOT / "var"))
    code = ("import app.wsgi\nr = app.wsgi.application.test_client().get('/ready')\n"
            "assert r.status_code == 200, r.data\nassert r.json['checks']['model']['ok'] is True, r.json")
    loaded = _modules_after(code, tmp_path, FMS_LLM_MODEL=str(models["llm"]), FMS_EMBED_MODEL=str(models["embedder"]),
                            FMS_EMBED_TOKENIZER=str(models["tokenizer"]), REDIS_URL="redis://127.0.0.1:1/0")
    assert sorted(loaded & set(HEAVY)) == []


def test_the_request_paths_still_load_what_they_need(tmp_path: Path) -> None:
    """The lazy imports are real imports: the analytics and export paths pull their engines in."""
    loaded = _modules_after("import app.wsgi\nfrom app.analytics.service import _analytics\n_analytics()\n"
                            "from etl.stream import export_stream", tmp_path)
    assert {"duckdb", "pyarrow"} <= loaded


def test_checking_and_queueing_a_summary_loads_neither_duckdb_nor_pyarrow(tmp_path: Path) -> None:
    """A big form's summary is only checked and queued in the API (issue 10): that must not cost the engines."""
    code = ("import app.wsgi\nfrom app.analytics.service import AnalyticsService\n"
            "svc = app.wsgi.application.extensions['fms']\n"
            "AnalyticsService.from_settings(svc.store, svc.cache, svc.settings, svc.cursors, svc.dispatch)\n"
            "from etl import analytics_spec as spec\n"
            "assert spec.splittable({'properties': {'a': {'enum': [1]}}}, 'a')\n"
            "from tasks.registry import load_actors\nload_actors()  # what the first enqueue does")
    loaded = _modules_after(code, tmp_path)
    assert sorted(loaded & {"duckdb", "pyarrow"}) == []
