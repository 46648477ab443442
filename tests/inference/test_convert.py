"""sentence-transformers -> ONNX conversion (skipped cleanly when torch is not installed)."""

from __future__ import annotations

import pytest

from inference.convert import ConversionError, export_onnx, torch_available
from inference.models.defaults import _tokenizer_dir
from inference.registry import inspect_model


def test_missing_torch_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("inference.convert.torch_available", lambda: False)
    with pytest.raises(ConversionError, match=r"requirements-convert\.txt"):
        export_onnx(tmp_path, tmp_path / "out")


@pytest.mark.skipif(not torch_available(), reason="torch/sentence-transformers not installed (optional extra)")
def test_export_fp32_and_int8_agree_with_original(tmp_path, model_paths):
    res = export_onnx(_tokenizer_dir(), tmp_path / "onnx", int8=True)
    assert res.cosine["fp32"]["min"] >= 0.999
    assert res.cosine["int8"]["min"] >= 0.97
    info = inspect_model(res.fp32_path, compute_sha256=False)
    assert info.quantization == "fp32" and info.outputs[0]["shape"][-1] == 384
    assert inspect_model(res.int8_path, compute_sha256=False).quantization == "int8"
