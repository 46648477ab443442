"""Default model installation and the registry's file inspection."""

from __future__ import annotations

import shutil
import time

import pytest

from inference.models.defaults import GEMMA_SHA256, MINILM_INT8_SHA256, ensure_default_models
from inference.registry import InvalidModelError, inspect_model


def test_ensure_default_models_is_idempotent_and_fast(model_paths):
    t0 = time.perf_counter()
    again = ensure_default_models(model_paths["models_dir"].parent)
    assert time.perf_counter() - t0 < 1.0  # no re-hash of 250 MB when unchanged
    assert again == model_paths
    assert model_paths["llm"].stat().st_size == 253113024
    assert model_paths["tokenizer"].name == "tokenizer.json"


def test_install_into_fresh_dir_verifies_sha(tmp_path, model_paths):
    paths = ensure_default_models(tmp_path)
    info = inspect_model(paths["embedder"])
    assert info.sha256 == MINILM_INT8_SHA256
    assert paths["llm"].with_name(paths["llm"].name + ".sha256").read_text().startswith(GEMMA_SHA256)


def test_inspect_gguf_reads_metadata(model_paths):
    info = inspect_model(model_paths["llm"])
    assert info.format == "gguf"
    assert info.sha256 == GEMMA_SHA256
    assert info.architecture == "gemma3"
    assert info.quantization == "Q4_K_M"
    assert info.context_length == 32768
    assert info.parameters["tensor_count"] > 100


def test_inspect_onnx_reads_shapes(model_paths):
    info = inspect_model(model_paths["embedder"])
    assert info.format == "onnx"
    assert [i["name"] for i in info.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    assert info.outputs[0]["shape"] == ["batch", "sequence", 384]


@pytest.mark.parametrize("keep", [5000, 50_000_000])
def test_truncated_gguf_is_rejected(tmp_path, model_paths, keep):
    bad = tmp_path / "truncated.gguf"
    with model_paths["llm"].open("rb") as src, bad.open("wb") as dst:
        dst.write(src.read(keep))
    with pytest.raises(InvalidModelError, match=r"truncated|corrupt"):
        inspect_model(bad)


def test_garbage_and_truncated_onnx_rejected(tmp_path, model_paths):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model at all" * 100)
    with pytest.raises(InvalidModelError, match="neither GGUF"):
        inspect_model(junk)
    bad = tmp_path / "cut.onnx"
    shutil.copyfile(model_paths["embedder"], bad)
    with bad.open("r+b") as fh:
        fh.truncate(400_000)
    with pytest.raises(InvalidModelError, match="invalid ONNX"):
        inspect_model(bad)
