"""Export a sentence-transformers model directory to ONNX (optionally int8) and check it.

torch and sentence-transformers are an optional extra (``requirements-convert.txt``);
nothing else in fms needs them. The exported graph takes ``input_ids``,
``attention_mask``, ``token_type_ids`` and returns ``last_hidden_state``; pooling
and normalisation stay in :class:`inference.engines.onnx.OnnxEmbedder`, so the
check below runs the exact production path against the PyTorch original.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

SAMPLE_TEXTS = [
    "My laptop will not turn on since this morning.",
    "Please register two people for the conference on 5 March.",
    "Someone stole my bicycle outside the library.",
    "The printer keeps jamming every few pages, it is annoying.",
    "I would like to take vacation from 1 to 12 July.",
    "Short.",
]


class ConversionError(RuntimeError):
    """Export failed, or the ONNX output disagrees with the original (cosine below the bar)."""


@dataclass
class ConvertResult:
    """Written files and the agreement with the original model per file."""

    fp32_path: str
    int8_path: str | None
    tokenizer_path: str
    cosine: dict = field(default_factory=dict)  # {"fp32": {"mean":, "min":}, "int8": {...}}

    def to_dict(self) -> dict:
        return asdict(self)


def torch_available() -> bool:
    try:
        import sentence_transformers  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(model_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, int8: bool = False,
                opset: int = 17, min_cosine: float = 0.99, min_cosine_int8: float = 0.97,
                texts: list[str] | None = None) -> ConvertResult:
    """Export ``model_dir`` to ``out_dir/model.onnx`` (+ ``model_int8.onnx``) and verify the cosine
    agreement with the original: fp32 >= ``min_cosine``, int8 >= ``min_cosine_int8``."""
    if not torch_available():
        raise ConversionError("conversion needs torch and sentence-transformers: "
                              "pip install -r requirements-convert.txt")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    src, out = Path(model_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    st = SentenceTransformer(str(src), device="cpu")
    transformer = st[0].auto_model.eval()
    tok_file = src / "tokenizer.json"
    if not tok_file.exists():
        raise ConversionError(f"{src} has no tokenizer.json (needed by the ONNX embedder)")
    shutil.copyfile(tok_file, out / "tokenizer.json")
    enc = st.tokenizer(["hello world", "a somewhat longer example sentence"], padding=True, return_tensors="pt")
    inputs = (enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids", torch.zeros_like(enc["input_ids"])))

    class Wrapper(torch.nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    fp32 = out / "model.onnx"
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "token_type_ids": {0: "batch", 1: "sequence"}, "last_hidden_state": {0: "batch", 1: "sequence"}}
    try:
        with torch.no_grad():
            torch.onnx.export(Wrapper(transformer), inputs, str(fp32), opset_version=opset, dynamo=False,
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["last_hidden_state"], dynamic_axes=axes)
    except Exception as exc:
        raise ConversionError(f"ONNX export failed: {type(exc).__name__}: {exc}") from exc
    int8_path = None
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8_path = out / "model_int8.onnx"
        # per-channel weights, MatMul only: min cosine ~0.988 vs ~0.937 for the all-ops default
        quantize_dynamic(str(fp32), str(int8_path), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
    result = ConvertResult(fp32_path=str(fp32), int8_path=str(int8_path) if int8_path else None,
                           tokenizer_path=str(out / "tokenizer.json"))
    result.cosine = check_agreement(st, result, texts or SAMPLE_TEXTS)
    for name, bar in (("fp32", min_cosine), ("int8", min_cosine_int8)):
        if name in result.cosine and result.cosine[name]["min"] < bar:
            raise ConversionError(f"{name} ONNX output disagrees with the original: "
                                  f"min cosine {result.cosine[name]['min']:.4f} < {bar}")
    return result


def check_agreement(st, result: ConvertResult, texts: list[str]) -> dict:
    """Cosine between the original's embeddings and each exported file's (production pooling path)."""
    import numpy as np

    from inference.engines.onnx import OnnxConfig, OnnxEmbedder

    ref = np.asarray(st.encode(texts, normalize_embeddings=True))
    out = {}
    for name, path in (("fp32", result.fp32_path), ("int8", result.int8_path)):
        if path is None:
            continue
        emb = OnnxEmbedder(path, result.tokenizer_path, OnnxConfig(threads=1))
        cos = (emb.embed(texts) * ref).sum(axis=1)
        emb.close()
        out[name] = {"mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5)}
    return out
