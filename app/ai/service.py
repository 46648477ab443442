"""AI features without Flask or Dramatiq: model paths, availability, drafts, duplicates, similarity.

The HTTP layer (:mod:`app.ai.api`) validates requests here and enqueues the
actors of :mod:`tasks.ai`; the actors call back into this module to turn
model output into store writes (draft submissions, embeddings). Model calls
themselves happen in the AI worker's engine process — with one exception:
``similar`` has its query text embedded by the one shared ``embedder``
process while the caller waits (see :func:`embed_query` for why).

Availability (503 ``model_unavailable``) is decided from two facts the API can
check cheaply: the configured model file exists and has a valid header, and
the AI worker has not flagged its circuit breaker open (a short-lived key in
the cache Redis, written by the worker when the breaker trips).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cache import Cache
from app.errors import ApiError, BadRequest, NotFound
from app.settings import Settings
from app.store import FmsStore, Record
from app.submissions.service import SubmissionService
from app.util import iso, now_iso, parse_iso
from app.validation import body_validator

if TYPE_CHECKING:  # numpy is imported by the request paths that need it, not at API worker start
    import numpy as np

DEFAULT_LLM = "gemma-3-270m-q4_k_m.gguf"
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2/model_int8.onnx"
MAX_FILL_TEXT = 20_000
MAX_QUERY_TEXT = 2_000
DUPLICATE_BLOCK = 1024
MAX_RANGE_SUBMISSIONS = 50  # a form-range summary reads at most this many (newest first): bounded prompt
BREAKER_NS = "ai-breaker"
KINDS = ("llama", "onnx")


class ModelUnavailable(ApiError):
    status, code = 503, "model_unavailable"


# -- configuration ----------------------------------------------------------------------------
def model_paths(settings: Settings) -> dict[str, Path]:
    """The active LLM, embedder and tokenizer paths (config first, installed defaults otherwise)."""
    models = Path(settings.data_dir) / "models"
    llm = Path(settings.llm_model) if settings.llm_model else models / DEFAULT_LLM
    emb = Path(settings.embed_model) if settings.embed_model else models / DEFAULT_EMBEDDER
    tok = Path(settings.embed_tokenizer) if settings.embed_tokenizer else emb.parent / "tokenizer.json"
    return {"llm": llm, "embedder": emb, "tokenizer": tok}


def ai_threads(settings: Settings) -> int:
    """FMS_AI_THREADS, else the cores this process may run on (systemd AllowedCPUs= / CPUAffinity=)."""
    if settings.ai_threads > 0:
        return settings.ai_threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_sha_lock = threading.Lock()
_sha_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a model file, cached per (path, size, mtime) — models are large and rarely change."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _sha_lock:
        if key in _sha_cache:
            return _sha_cache[key]
    from inference.models.defaults import sha256_file

    digest = sha256_file(path)
    with _sha_lock:
        _sha_cache[key] = digest
    return _sha_cache[key]


_header_cache: dict[tuple[str, int, int], str | None] = {}


def model_problem(path: Path) -> str | None:
    """Why ``path`` cannot be loaded (missing, unreadable, not a model), or None when it looks fine.

    The full check, for the processes that load models (the AI worker): the
    GGUF tensor table is read, an ONNX file is parsed and checked — which
    keeps about 75 MB in the process that does it, so the API uses
    :func:`model_header_problem`. Cached per size and mtime.
    """
    from inference.registry import InvalidModelError, inspect_model

    try:
        st = path.stat()
    except OSError as exc:
        return f"model file {path} is not readable: {exc.strerror}"
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _header_cache:
        try:
            inspect_model(path, compute_sha256=False)
            _header_cache[key] = None
        except (InvalidModelError, OSError, ValueError) as exc:
            _header_cache[key] = f"model file {path} is not a valid model: {exc}"
    return _header_cache[key]


def model_header_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a model, from its size and first bytes only: what the API checks.

    Every AI request and every ``/ready`` asks, in whichever API worker the
    request lands on; parsing the file there (``onnx.load`` and the checker)
    left about 75 MB behind in each worker. The processes that load a model
    still validate it fully: the AI worker (:func:`model_problem`) and the
    embedder, whose load error ``/ready`` ("embedder") and ``similar`` report.
    """
    from inference.registry import InvalidModelError, detect_format

    try:
        if path.stat().st_size < 64:
            return f"model file {path} is not a valid model: too small to be one"
        kind = detect_format(path)
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        return f"model file {path} is not readable: {exc.strerror}"
    except InvalidModelError as exc:
        return f"model file {path} is not a valid model: {exc}"
    version = int.from_bytes(head[4:8], "little")
    if kind == "gguf" and version not in (2, 3):
        return f"model file {path} is not a valid model: unsupported GGUF version {version}"
    return None


def breaker_key(kind: str) -> str:
    return kind


def flag_breaker_open(cache: Cache, kind: str, reason: str, ttl: int) -> None:
    """Called by the AI worker when its engine breaker opens: the API answers 503 until it expires."""
    cache.set(BREAKER_NS, breaker_key(kind), reason.encode()[:500], ttl=max(1, ttl))


def clear_breaker_flag(cache: Cache, kind: str) -> None:
    cache.delete(BREAKER_NS, breaker_key(kind))


def require_available(settings: Settings, cache: Cache, kind: str) -> None:
    """Raise 503 ``model_unavailable`` when the ``kind`` engine cannot serve (see the module docstring)."""
    paths = model_paths(settings)
    files = [paths["llm"]] if kind == "llama" else [paths["embedder"]]
    for path in files:
        problem = model_header_problem(path)
        if problem:
            raise ModelUnavailable(problem, [{"pointer": "model", "message": problem}])
    if kind == "onnx" and not paths["tokenizer"].is_file():
        raise ModelUnavailable(f"tokenizer {paths['tokenizer']} is missing")
    flag = cache.get(BREAKER_NS, breaker_key(kind))
    if flag is not None:
        raise ModelUnavailable(f"the {kind} engine is failing (circuit open): {flag.decode(errors='replace')}")


# -- text helpers ------------------------------------------------------------------------------
def submission_text(form: Record, answers: dict[str, Any]) -> str:
    """The text answers of a submission, one ``title: value`` line each (what gets embedded)."""
    props = (form.get("schema") or {}).get("properties") or {}
    lines = []
    for name in sorted(answers):
        value = answers[name]
        if isinstance(value, str) and value.strip() and not (form.get("sensitive") and name in form["sensitive"]):
            title = (props.get(name) or {}).get("title") or name
            lines.append(f"{title}: {value.strip()}")
    return "\n".join(lines)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def text_body_schema(field: str = "text", limit: int = MAX_FILL_TEXT) -> dict[str, Any]:
    """A body carrying one free text (fill's ``text``): what :func:`check_text` checks and /openapi.json shows."""
    return {"type": "object", "required": [field], "properties": {field: {
        "type": "string", "maxLength": limit, "pattern": r"\S",
        "description": f"Free text: not blank, at most {limit} characters."}}}


FILL_BODY_SCHEMA = text_body_schema()


@functools.lru_cache(maxsize=8)
def _text_validator(field: str, limit: int) -> Any:
    return body_validator(text_body_schema(field, limit))


def check_text(body: Any, field: str = "text", limit: int = MAX_FILL_TEXT) -> str:
    """``body[field]`` when ``body`` matches :func:`text_body_schema`; else 400 naming ``/field``."""
    errors = list(_text_validator(field, limit).iter_errors(body))
    if any(e.validator == "maxLength" for e in errors):
        raise BadRequest.field(f"/{field}", f"{field} is longer than {limit} characters")
    if errors:
        raise BadRequest.field(f"/{field}", f"{field} must be a non-empty string")
    return str(body[field])


RANGE_KEYS = ("created_after", "created_before")
SUMMARIZE_FORM_BODY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    key: {"type": "string", "format": "date-time", "description": f"ISO 8601 date-time with offset ({key})."}
    for key in RANGE_KEYS}}
_SUMMARIZE_FORM_BODY = body_validator(SUMMARIZE_FORM_BODY_SCHEMA)


def check_range(body: Any) -> dict[str, str]:
    """A form summary's bounds, normalised, when ``body`` matches :data:`SUMMARIZE_FORM_BODY_SCHEMA`; else 400.

    Present means a date-time: ``null`` or a number is an error, not "no bound".
    """
    for error in _SUMMARIZE_FORM_BODY.iter_errors(body):
        key = next((str(p) for p in error.absolute_path), None)
        if key is None:
            raise BadRequest.field("", "body must be a JSON object")
        raise BadRequest.field(f"/{key}", f"{key} must be an ISO 8601 date-time")
    bounds = {}
    for key in RANGE_KEYS:
        if key in body:
            try:
                bounds[key] = iso(parse_iso(body[key]))
            except ValueError as exc:
                raise BadRequest.field(f"/{key}", f"{key} must be an ISO 8601 date-time") from exc
    return bounds


def form_embeds(form: Record) -> bool:
    """The form asked for automatic embeddings (``settings.ai.embed``)."""
    ai = (form.get("settings") or {}).get("ai") or {}
    return bool(ai.get("embed"))


# -- service -----------------------------------------------------------------------------------
class AIService:
    def __init__(self, store: FmsStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def create_draft(self, form: Record, fill: dict[str, Any], actor: str | None, task_id: str,
                     model_sha256: str) -> Record:
        """Store a fill result as a draft submission; idempotent per task (a retried task finds its draft)."""
        subs = SubmissionService(self.store)
        created = subs.create(form, {"answers": fill["answers"], "draft": True}, actor, f"ai-fill:{task_id}",
                              f"{form['id']}:ai-fill")
        sub_id = created.body["id"]
        self.store.set_submission_meta_key(sub_id, "ai", {
            "task_id": task_id, "evidence": fill.get("evidence") or {}, "methods": fill.get("methods") or {},
            "model_sha256": model_sha256, "filled_at": now_iso()})
        return created.body

    def store_embedding(self, sub: Record, vector: np.ndarray, model_sha256: str, text: str) -> None:
        import numpy as np

        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        self.store.put_embedding({
            "submission_id": sub["id"], "form_id": sub["form_id"], "model_sha256": model_sha256,
            "dim": int(vec.shape[0]), "vector": vec.tobytes(), "text_hash": text_hash(text), "created_at": now_iso()})

    def _matrix(self, form_id: str, model_sha256: str) -> tuple[np.ndarray, list[str]]:
        """The form's live submissions' unit vectors (soft-deleted submissions left out), in id order."""
        import numpy as np

        from app.store import SubmissionQuery

        rows = self.store.form_embeddings(form_id, model_sha256)
        gone = SubmissionQuery(form_id=form_id, deleted=True, fields=())
        n_gone = self.store.count_submissions(gone)
        deleted = {r["id"] for r in self.store.query_submissions(replace(gone, limit=n_gone))} if n_gone else set()
        keep = [r for r in rows if r["submission_id"] not in deleted]
        if not keep:
            return np.zeros((0, 0), dtype=np.float32), []
        mat = np.vstack([np.frombuffer(r["vector"], dtype=np.float32) for r in keep])
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        return mat / np.maximum(norms, 1e-12), [r["submission_id"] for r in keep]

    def duplicates(self, form_id: str, threshold: float | None, model_sha256: str) -> Record:
        import numpy as np

        thr = self.settings.duplicate_threshold if threshold is None else threshold
        if not 0.0 < thr <= 1.0:
            raise BadRequest.field("threshold", "threshold must be in (0, 1]")
        mat, ids = self._matrix(form_id, model_sha256)
        out: list[dict[str, Any]] = []
        for idx in duplicate_components(mat, thr):
            sims = mat[idx] @ mat[idx].T
            pair = sims[np.triu_indices(len(idx), k=1)]
            out.append({"submission_ids": sorted(ids[i] for i in idx), "min_similarity": round(float(pair.min()), 4),
                        "max_similarity": round(float(pair.max()), 4)})
        out.sort(key=lambda g: (-g["max_similarity"], g["submission_ids"]))
        return {"threshold": thr, "embedded": len(ids), "groups": out}

    def similar(self, form_id: str, query_vec: Sequence[float] | np.ndarray, k: int, model_sha256: str) -> Record:
        import numpy as np

        from inference.embeddings import top_k

        if not 1 <= k <= 100:
            raise BadRequest.field("k", "k must be between 1 and 100")
        mat, ids = self._matrix(form_id, model_sha256)
        hits = top_k(np.asarray(query_vec, dtype=np.float32), mat, ids, k=k) if ids else []
        return {"embedded": len(ids), "items": [{"submission_id": sid, "score": round(float(s), 4)} for sid, s in hits]}

    def range_texts(self, form_id: str, created_after: str | None, created_before: str | None,
                    limit: int = MAX_RANGE_SUBMISSIONS) -> list[str]:
        """Text answers of a form's live, non-draft submissions in ``[after, before)`` (newest first, capped)."""
        from app.store import SubmissionQuery

        form = self.store.get_form(form_id)
        if form is None:
            raise NotFound(f"form {form_id} not found", code="form_not_found")
        rows = self.store.query_submissions(SubmissionQuery(
            form_id=form_id, statuses=("submitted", "in_review", "approved"), created_after=created_after,
            created_before=created_before, limit=limit))
        texts = [submission_text(form, r.get("answers") or {}) for r in rows]
        return [t for t in texts if t]

    def get_submission_form(self, sub_id: str) -> tuple[Record, Record]:
        sub = self.store.get_submission(sub_id)
        if sub is None or sub.get("deleted_at") is not None:
            raise NotFound(f"submission {sub_id} not found", code="submission_not_found")
        form = self.store.get_form_version(sub["form_id"], sub["form_version"])
        if form is None:
            raise NotFound(f"form {sub['form_id']} not found", code="form_not_found")
        return sub, form


def duplicate_components(unit: np.ndarray, threshold: float, block: int = DUPLICATE_BLOCK) -> list[list[int]]:
    """Row indices of probable-duplicate groups (the API process has a small memory limit,
    hence the blocked computation in :func:`inference.embeddings.duplicate_groups`)."""
    from inference.embeddings import duplicate_groups

    return duplicate_groups(unit, list(range(unit.shape[0])), threshold, block=block)


EMBEDDER_RETRY_AFTER = 5  # seconds: supervisor/systemd restart the embedder in 2 s, the model loads in ~1 s


class EmbedderUnavailable(ModelUnavailable):
    """503 ``model_unavailable`` with ``Retry-After``: the embedder process is down, slow or has no model."""

    retry_after = EMBEDDER_RETRY_AFTER


def embedder_socket(settings: Settings) -> Path:
    """Where the ``embedder`` process listens (FMS_EMBEDDER_SOCKET, else ``<data_dir>/embedder.sock``)."""
    return Path(settings.embedder_socket) if settings.embedder_socket else Path(settings.data_dir) / "embedder.sock"


def embed_query(settings: Settings, text: str, model_sha256: str) -> list[float]:
    """The unit vector of a ``similar`` query, from the one shared ``embedder`` process.

    Why not in the API process: each gunicorn worker that loaded ONNX Runtime,
    the tokenizer and the model for this held about 235 MB more (2 x cores + 1
    workers share one ``MemoryMax=512M``); why not a task on the ``ai`` queue:
    the caller is waiting and that queue is serial, so a query would wait
    behind a running fill. The embedder must serve the model the stored
    vectors came from (``model_sha256``), else the scores would mean nothing.
    """
    from inference.embed_server import EmbedderError, embed

    try:
        got = embed(embedder_socket(settings), [text], timeout_s=settings.embedder_timeout)
    except EmbedderError as exc:
        raise EmbedderUnavailable(exc.message, [{"pointer": "embedder", "message": exc.message}]) from exc
    if got.model_sha256 != model_sha256:
        message = (f"the embedder serves model {got.model_sha256[:12]}, not the configured {model_sha256[:12]} "
                   "(FMS_EMBED_MODEL differs between the api and embedder processes)")
        raise EmbedderUnavailable(message, [{"pointer": "embedder", "message": message}])
    return got.vectors[0]


def embedder_probe(svc: Any) -> bool:
    """``/ready`` "embedder": the embedder process answers within half a second and has its model loaded."""
    from inference.embed_server import EmbedderError, ping

    try:
        return bool(ping(embedder_socket(svc.settings), timeout_s=0.5).get("loaded"))
    except EmbedderError:
        return False


def ready_probe(svc: Any) -> bool:
    """``/ready`` "model": the configured LLM and embedder files are present and look like models.

    Whether an AI worker is alive is the "workers" probe's job (it requires a
    heartbeat serving the ``ai`` queue); the breaker flag is reported as not ready too.
    """
    paths = model_paths(svc.settings)
    if model_header_problem(paths["llm"]) or model_header_problem(paths["embedder"]) \
            or not paths["tokenizer"].is_file():
        return False
    return all(svc.cache.get(BREAKER_NS, breaker_key(k)) is None for k in KINDS)
