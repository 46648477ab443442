"""The model registry and benchmark reports — no Flask, no Dramatiq.

A model is registered by a server-side path or by upload. Either way the file
is read by :func:`inference.registry.inspect_model` (format, sha256, size,
architecture, quantization, ONNX input/output shapes come from the file
itself) before a record exists; anything that is not a valid GGUF/ONNX file
is refused with 422 ``invalid_model``. Uploads are streamed to
``<data_dir>/models/uploads`` in 1 MiB blocks (never held in memory), under a
size cap, and removed again when invalid.

Which model serves is chosen by config (FMS_LLM_MODEL / FMS_EMBED_MODEL), not
by the registry — the registry is the inventory the operator benchmarks and
picks from.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

from app.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, ValidationFailed
from app.settings import Settings
from app.store import FmsStore, Record
from app.util import new_id, now_iso

BLOCK = 1 << 20
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def public_model(rec: Record, show_path: bool = True) -> Record:
    """The API shape; ``show_path`` is False for non-admins (server paths are an admin's business)."""
    info = rec.get("info") or {}
    return {"id": rec["id"], "name": rec["name"], "format": rec["format"],
            "path": rec["path"] if show_path else None,
            "sha256": rec["sha256"], "size": rec["size"], "architecture": rec.get("architecture"),
            "quantization": rec.get("quantization"), "context_length": info.get("context_length"),
            "parameters": info.get("parameters") or {}, "inputs": info.get("inputs") or [],
            "outputs": info.get("outputs") or [], "source": rec["source"], "created_by": rec.get("created_by"),
            "created_at": rec["created_at"]}


class ModelService:
    def __init__(self, store: FmsStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    @property
    def upload_dir(self) -> Path:
        return Path(self.settings.data_dir) / "models" / "uploads"

    @property
    def model_dirs(self) -> list[Path]:
        """Where the API may register files from by path (FMS_MODEL_DIRS; default ``<data_dir>/models``)."""
        listed = [Path(d.strip()) for d in self.settings.model_dirs.split(",") if d.strip()]
        return [d.resolve() for d in listed or [Path(self.settings.data_dir) / "models"]]

    # registry ----------------------------------------------------------------------------
    def register_server_path(self, path: str, name: str | None, actor: str | None) -> Record:
        """Register a file named by an API client, but only from inside the configured model directories.

        An admin token is not a shell account: without this, any file the
        server can read would be opened, and the error message would tell the
        caller whether it exists. The check runs on the resolved path
        (symlinks followed) before the file system is asked anything else,
        and its answer is the same for a path outside that exists and one
        that does not.
        """
        refused = ValidationFailed.field(
            "/path", "path must be an absolute path inside a model directory (FMS_MODEL_DIRS)", code="path_not_allowed")
        if "\0" in path or not Path(path).is_absolute():
            raise refused
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError, ValueError) as exc:  # symlink loops, over-long names
            raise refused from exc
        if not any(resolved.is_relative_to(d) and resolved != d for d in self.model_dirs):
            raise refused
        return self.register_path(str(resolved), name, actor)

    def register_path(self, path: str, name: str | None, actor: str | None, source: str = "path") -> Record:
        """Register any file the process can read: for the CLI and uploads; API clients go through
        :meth:`register_server_path`."""
        from inference.registry import InvalidModelError, inspect_model

        p = Path(path)
        if not p.is_absolute():
            p = p.resolve()
        if not p.is_file():
            raise ValidationFailed.field("/path", f"{p} is not a readable file", code="invalid_model")
        try:
            info = inspect_model(p)
        except (InvalidModelError, OSError, ValueError) as exc:
            raise ValidationFailed.field("/path", f"not a valid model: {exc}", code="invalid_model") from exc
        data = info.to_dict()
        rec = {"id": new_id(), "name": name or p.name, "format": data["format"], "path": str(p),
               "sha256": data["sha256"], "size": data["size"], "architecture": data.get("architecture"),
               "quantization": data.get("quantization"), "info": data, "source": source, "created_by": actor,
               "created_at": now_iso()}
        return self.store.put_model(rec)

    def upload(self, stream: BinaryIO | Iterable[bytes], filename: str, name: str | None,
               actor: str | None) -> Record:
        """Stream an upload to disk under the size cap, then register it (removed again if invalid)."""
        limit = self.settings.model_upload_max
        safe = SAFE_NAME.sub("_", Path(filename or "model").name).strip("._") or "model"
        if not safe.lower().endswith((".gguf", ".onnx")):
            raise BadRequest.field("file", "the file name must end in .gguf or .onnx", code="invalid_model")
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        target = self.upload_dir / f"{new_id()}-{safe}"
        part = target.with_name(target.name + ".part")
        written = 0
        try:
            with part.open("wb") as out:
                for block in _blocks(stream):
                    written += len(block)
                    if written > limit:
                        raise PayloadTooLarge.field("file", f"model files are limited to {limit} bytes")
                    out.write(block)
            if written == 0:
                raise ValidationFailed.field("file", "the uploaded file is empty", code="invalid_model")
            part.rename(target)
            return self.register_path(str(target), name or safe, actor, source="upload")
        except BaseException:
            part.unlink(missing_ok=True)
            target.unlink(missing_ok=True)
            raise

    def get(self, model_id: str) -> Record:
        rec = self.store.get_model(model_id)
        if rec is None:
            raise NotFound(f"model {model_id} not found", code="model_not_found")
        return rec

    def list(self) -> list[Record]:
        return self.store.list_models()

    def delete(self, model_id: str) -> None:
        """Forget a model; an uploaded file is removed too, a server-side path is left alone."""
        from app.ai.service import model_paths

        rec = self.get(model_id)
        # resolved on both sides: a path registration stores the symlink's target
        active = {Path(p).resolve() for p in model_paths(self.settings).values()}
        if Path(rec["path"]).resolve() in active:
            raise Conflict("this model is the active one (FMS_LLM_MODEL / FMS_EMBED_MODEL); switch first",
                           code="model_in_use")
        self.store.delete_model(model_id)
        if rec["source"] == "upload":
            Path(rec["path"]).unlink(missing_ok=True)

    # benchmarks ------------------------------------------------------------------------------
    def run_benchmark(self, model_id: str, bench_id: str, *, threads: builtins.list[int] | None = None,
                      n_batch: builtins.list[int] | None = None, levels: builtins.list[str] | None = None,
                      reps: int = 5, constraints: builtins.list[str] | None = None, created_by: str | None = None,
                      on_progress: Callable[[dict[str, Any]], None] | None = None) -> Record:
        """Measure the model over its grid (threads x batch for GGUF, threads x graph level for ONNX)."""
        from app.ai.service import ai_threads, model_paths
        from inference import bench

        rec = self.get(model_id)
        cores = ai_threads(self.settings)
        grid_threads = sorted(set(threads or [t for t in (1, cores) if t >= 1]))
        if rec["format"] == "gguf":
            configs = bench.gguf_grid([rec["path"]], grid_threads, n_batch or [256])
            default_constraints = ["p95_ms<2000", "tokens_per_s>20"]
        else:
            tokenizer = Path(rec["path"]).parent / "tokenizer.json"
            if not tokenizer.is_file():
                tokenizer = model_paths(self.settings)["tokenizer"]
            configs = bench.onnx_grid([rec["path"]], str(tokenizer), grid_threads, levels or ["all", "disable"])
            default_constraints = ["p95_ms<2000"]
        report = bench.run_grid(configs, constraints if constraints is not None else default_constraints,
                                reps=max(5, reps), progress=on_progress)
        data = report.to_dict()
        self.store.put_benchmark({"id": bench_id, "model_id": model_id, "report": data,
                                  "created_by": created_by, "created_at": now_iso()})
        return data

    def benchmark(self, bench_id: str) -> Record:
        rec = self.store.get_benchmark(bench_id)
        if rec is None:
            raise NotFound(f"benchmark {bench_id} not found (it may still be running: see /api/v1/tasks/{bench_id})",
                           code="benchmark_not_found")
        return rec

    @staticmethod
    def render(rec: Record, fmt: str) -> tuple[str, str]:
        """The stored report as (body, mimetype) in json, csv, html, text (technical) or simple."""
        from inference.bench import BenchReport

        report = BenchReport(**rec["report"])
        renderers = {"json": (report.to_json, "application/json"), "csv": (report.to_csv, "text/csv"),
                     "html": (report.to_html, "text/html"), "text": (report.technical_text, "text/plain"),
                     "simple": (report.simple_text, "text/plain")}
        if fmt not in renderers:
            raise BadRequest.field("format", f"format must be one of {', '.join(renderers)}")
        fn, mime = renderers[fmt]
        return fn(), mime


def _blocks(stream: BinaryIO | Iterable[bytes]) -> Iterable[bytes]:
    read = getattr(stream, "read", None)
    if read is None:
        yield from stream
        return
    while True:
        block = read(BLOCK)
        if not block:
            return
        yield block
