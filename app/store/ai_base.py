"""Store extensions for the AI features: model registry, embeddings, benchmark reports.

Kept apart from :mod:`app.store.base` (like :mod:`app.store.tasks_base`) so
the AI side can grow without touching the core interface. Both backends
inherit a mixin built on :class:`AIStore`; the AI tables and indexes are
created by the numbered migrations (:mod:`app.store.migrations`).

Embedding vectors cross this interface as float32 ``bytes`` (little-endian,
``numpy.ndarray.tobytes()``): SQLite stores them as a BLOB, MongoDB as BSON
binary — 1.5 KB per 384-d vector instead of a JSON list of floats.
"""

from __future__ import annotations

import abc
from typing import Any

Record = dict[str, Any]

MODEL_FIELDS = (
    "id", "name", "format", "path", "sha256", "size", "architecture", "quantization", "info", "source",
    "created_by", "created_at",
)
MODEL_JSON = frozenset({"info"})
EMBEDDING_FIELDS = ("submission_id", "form_id", "model_sha256", "dim", "vector", "text_hash", "created_at")
BENCHMARK_FIELDS = ("id", "model_id", "report", "created_by", "created_at")
BENCHMARK_JSON = frozenset({"report"})


class AIStore(abc.ABC):
    """What the AI features ask of a database (implemented by both backends' mixins)."""

    # model registry -------------------------------------------------------------
    @abc.abstractmethod
    def put_model(self, model: Record) -> Record:
        """Insert a model record unless one with the same path exists: the stored record."""

    @abc.abstractmethod
    def get_model(self, model_id: str) -> Record | None: ...

    @abc.abstractmethod
    def list_models(self) -> list[Record]:
        """Oldest first."""

    @abc.abstractmethod
    def delete_model(self, model_id: str) -> bool: ...

    # embeddings -------------------------------------------------------------------
    @abc.abstractmethod
    def put_embedding(self, rec: Record) -> None:
        """Insert or replace the embedding of one submission (idempotent by submission id)."""

    @abc.abstractmethod
    def get_embedding(self, submission_id: str) -> Record | None: ...

    @abc.abstractmethod
    def form_embeddings(self, form_id: str, model_sha256: str | None = None) -> list[Record]:
        """Every stored embedding of a form (optionally of one model), ordered by submission id."""

    # submission meta (AI evidence) -------------------------------------------------
    @abc.abstractmethod
    def set_submission_meta_key(self, sub_id: str, key: str, value: Any) -> bool:
        """Set ``meta[key]`` of a submission without a revision (machine annotations, not answers)."""

    # benchmark reports ---------------------------------------------------------------
    @abc.abstractmethod
    def put_benchmark(self, rec: Record) -> None:
        """Insert or replace a benchmark report (id = the task id that produced it)."""

    @abc.abstractmethod
    def get_benchmark(self, bench_id: str) -> Record | None: ...
