"""Inspect a model file before anyone loads it: format, sha256, size, metadata, shapes.

A registry entry must come from the file itself (not from what the uploader
claims), and a truncated or garbage upload must be refused with a message a
person can act on — loading it into llama.cpp would crash or hang the worker.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

GGUF_MAGIC = b"GGUF"
#: llama.cpp ``general.file_type`` -> quantization name (subset that matters here).
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
              11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
              17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 24: "IQ1_S", 25: "IQ4_NL",
              26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M",
              32: "BF16", 36: "TQ1_0", 37: "TQ2_0"}


class InvalidModelError(ValueError):
    """The file is not a usable GGUF/ONNX model (wrong format, truncated, corrupt)."""


@dataclass
class ModelInfo:
    """What a model file is, read from the file."""

    path: str
    format: str  # "gguf" | "onnx"
    sha256: str
    size: int
    architecture: str | None = None
    quantization: str | None = None
    context_length: int | None = None
    name: str | None = None
    parameters: dict = field(default_factory=dict)
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def detect_format(path: Path) -> str:
    """``gguf`` by magic bytes, ``onnx`` by extension/protobuf shape, else InvalidModelError."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == GGUF_MAGIC:
        return "gguf"
    if path.suffix.lower() == ".onnx" or head[:1] == b"\x08":  # protobuf field 1 (ir_version), varint
        return "onnx"
    raise InvalidModelError(f"{path.name}: neither GGUF (magic 'GGUF') nor ONNX")


def inspect_model(path: str | os.PathLike[str], *, compute_sha256: bool = True) -> ModelInfo:
    """Read format, size, sha256 and metadata; raise InvalidModelError for unusable files."""
    p = Path(path)
    if not p.is_file():
        raise InvalidModelError(f"{p}: no such file")
    size = p.stat().st_size
    if size < 64:
        raise InvalidModelError(f"{p.name}: file too small to be a model ({size} bytes)")
    fmt = detect_format(p)
    info = ModelInfo(path=str(p), format=fmt, sha256=_sha256(p) if compute_sha256 else "", size=size)
    if fmt == "gguf":
        _inspect_gguf(p, info)
    else:
        _inspect_onnx(p, info)
    return info


def _field(reader, key: str):
    f = reader.fields.get(key)
    if f is None:
        return None
    try:
        return f.contents()
    except Exception:  # noqa: BLE001 - older gguf versions: fall back to the raw part
        return f.parts[f.data[0]].tolist()[0] if f.data else None


def _inspect_gguf(p: Path, info: ModelInfo) -> None:
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(p), "r")
    except Exception as exc:
        raise InvalidModelError(f"{p.name}: corrupt or truncated GGUF ({type(exc).__name__}: {exc})") from exc
    # The reader memory-maps lazily; make sure every tensor's data lies inside the file.
    size = p.stat().st_size
    for t in reader.tensors:
        end = int(t.data_offset) + int(t.n_bytes)
        if end > size:
            raise InvalidModelError(
                f"{p.name}: truncated GGUF — tensor {t.name} ends at byte {end}, file has {size}")
    arch = _field(reader, "general.architecture")
    info.architecture = arch
    info.name = _field(reader, "general.name")
    ftype = _field(reader, "general.file_type")
    info.quantization = FILE_TYPES.get(ftype, f"type{ftype}") if ftype is not None else None
    if arch:
        info.context_length = _field(reader, f"{arch}.context_length")
        info.parameters = {k: _field(reader, f"{arch}.{k}") for k in
                           ("embedding_length", "block_count", "attention.head_count") if
                           _field(reader, f"{arch}.{k}") is not None}
    info.parameters["tensor_count"] = len(reader.tensors)
    if not reader.tensors:
        raise InvalidModelError(f"{p.name}: GGUF has no tensors")


def _inspect_onnx(p: Path, info: ModelInfo) -> None:
    import onnx

    try:
        model = onnx.load(str(p), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as exc:
        raise InvalidModelError(f"{p.name}: invalid ONNX ({type(exc).__name__}: {str(exc)[:200]})") from exc
    if not model.graph.node:
        raise InvalidModelError(f"{p.name}: ONNX graph is empty")

    def shape(v) -> dict:
        dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        return {"name": v.name, "shape": dims, "elem_type": int(v.type.tensor_type.elem_type)}

    init_names = {i.name for i in model.graph.initializer}
    info.inputs = [shape(v) for v in model.graph.input if v.name not in init_names]
    info.outputs = [shape(v) for v in model.graph.output]
    info.architecture = model.producer_name or None
    int8 = any(n.op_type in ("DynamicQuantizeLinear", "MatMulInteger", "QLinearMatMul", "QuantizeLinear")
               for n in model.graph.node)
    info.quantization = "int8" if int8 else "fp32"
    info.parameters = {"opset": [int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")],
                       "nodes": len(model.graph.node)}
