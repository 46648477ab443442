"""Inspect a model file before anyone loads it: format, sha256, size, metadata, shapes.

A registry entry must come from the file itself (not from what the uploader
claims), and a truncated or garbage upload must be refused with a message a
person can act on — loading it into llama.cpp would crash or hang the worker.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inference.models.defaults import sha256_file

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
    info = ModelInfo(path=str(p), format=fmt, sha256=sha256_file(p) if compute_sha256 else "", size=size)
    if fmt == "gguf":
        _inspect_gguf(p, info)
    else:
        _inspect_onnx(p, info)
    return info


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class _Reader:
    """Bounds-checked little-endian reader over a memory map (truncation -> InvalidModelError)."""

    def __init__(self, buf, name: str) -> None:
        self.buf, self.pos, self.name = buf, 0, name

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise InvalidModelError(f"{self.name}: truncated GGUF header (wanted {n} bytes at {self.pos})")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.take(self.unpack("<Q")).decode("utf-8", errors="replace")

    def value(self, vtype: int, keep: bool = True):
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            etype, count = self.unpack("<I"), self.unpack("<Q")
            if etype in _SCALARS and not keep:  # skip big numeric arrays (token scores) in one step
                self.take(struct.calcsize(_SCALARS[etype]) * count)
                return None
            items = [self.value(etype, keep) for _ in range(count)]
            return items if keep else None
        raise InvalidModelError(f"{self.name}: unknown GGUF value type {vtype} at byte {self.pos}")


def read_gguf_header(path: Path) -> tuple[dict, list[dict], int]:
    """(metadata without big arrays, tensor infos, data offset) — a fast header-only read.

    ``gguf.GGUFReader`` parses all 262k tokenizer entries into numpy objects
    (~20 s for Gemma on a busy 2-core host); a registry only needs the scalars
    and the tensor table, with the ``gguf`` package's type and block-size tables.
    """
    import gguf

    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        r = _Reader(buf, path.name)
        if r.take(4) != GGUF_MAGIC:
            raise InvalidModelError(f"{path.name}: bad GGUF magic")
        version = r.unpack("<I")
        if version not in (2, 3):
            raise InvalidModelError(f"{path.name}: unsupported GGUF version {version}")
        n_tensors, n_kv = r.unpack("<Q"), r.unpack("<Q")
        if n_tensors > 1_000_000 or n_kv > 1_000_000:
            raise InvalidModelError(f"{path.name}: implausible GGUF header counts")
        meta: dict = {"GGUF.version": version}
        for _ in range(n_kv):
            key = r.string()
            vtype = r.unpack("<I")
            small = not key.startswith("tokenizer.ggml.")
            meta[key] = r.value(vtype, keep=small)
        tensors = []
        for _ in range(n_tensors):
            name = r.string()
            dims = [r.unpack("<Q") for _ in range(r.unpack("<I"))]
            ttype, offset = r.unpack("<I"), r.unpack("<Q")
            try:
                block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ttype)]
            except (ValueError, KeyError) as exc:
                raise InvalidModelError(f"{path.name}: tensor {name} has unknown type {ttype}") from exc
            n_el = 1
            for d in dims:
                n_el *= d
            tensors.append({"name": name, "dims": dims, "type": ttype, "offset": offset,
                            "n_bytes": n_el // block * size})
        align = int(meta.get("general.alignment", gguf.GGUF_DEFAULT_ALIGNMENT))
        data_start = (r.pos + align - 1) // align * align
    return meta, tensors, data_start


def _inspect_gguf(p: Path, info: ModelInfo) -> None:
    meta, tensors, data_start = read_gguf_header(p)
    if not tensors:
        raise InvalidModelError(f"{p.name}: GGUF has no tensors")
    size = p.stat().st_size
    for t in tensors:
        end = data_start + t["offset"] + t["n_bytes"]
        if end > size:
            raise InvalidModelError(
                f"{p.name}: truncated GGUF — tensor {t['name']} ends at byte {end}, file has {size}")
    arch = meta.get("general.architecture")
    info.architecture = arch
    info.name = meta.get("general.name")
    ftype = meta.get("general.file_type")
    info.quantization = FILE_TYPES.get(ftype, f"type{ftype}") if ftype is not None else None
    if arch:
        info.context_length = meta.get(f"{arch}.context_length")
        info.parameters = {k: meta[f"{arch}.{k}"] for k in
                           ("embedding_length", "block_count", "attention.head_count") if f"{arch}.{k}" in meta}
    info.parameters["tensor_count"] = len(tensors)
    info.parameters["data_bytes"] = sum(t["n_bytes"] for t in tensors)


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
