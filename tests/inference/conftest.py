"""Session fixtures for the inference tests: real models, loaded once.

Models are installed (offline, sha256-checked) into ``./var/models`` — a cache the
run script uses too — so repeated test runs do not copy 250 MB again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference.engines.llama import LlamaConfig, LlamaEngine
from inference.engines.onnx import OnnxConfig, OnnxEmbedder
from inference.models.defaults import ensure_default_models

ROOT = Path(__file__).resolve().parents[2]
THREADS = min(2, os.cpu_count() or 1)


@pytest.fixture(scope="session")
def model_paths() -> dict[str, Path]:
    return ensure_default_models(os.environ.get("FMS_TEST_MODELS_DIR", ROOT / "var"))


@pytest.fixture(scope="session")
def llm(model_paths) -> Iterator[LlamaEngine]:
    engine = LlamaEngine(model_paths["llm"], LlamaConfig(n_threads=THREADS, n_ctx=2048))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def embedder(model_paths) -> Iterator[OnnxEmbedder]:
    emb = OnnxEmbedder(model_paths["embedder"], model_paths["tokenizer"], OnnxConfig(threads=THREADS))
    yield emb
    emb.close()
