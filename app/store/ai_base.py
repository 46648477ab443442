"""Store extensions for the AI features: model registry, embeddings, benchmark reports.

Kept apart from :mod:`app.store.base` (like :mod:`app.store.tasks_base`) so
the AI side can grow without touching the core interface. Both backends
inherit a mixin built on :class:`AIStore`; its ``__init_subclass__`` chains
:meth:`AIStore.migrate_ai` onto the backend's ``migrate`` (the same "migrate
hook" the task system uses), so the AI tables exist whenever the core ones do.

Embedding vectors cross this interface as float32 ``bytes`` (little-endian,
``numpy.ndarray.tobytes()``): SQLite stores them as a BLOB, MongoDB as BSON
binary — 1.5 KB per 384-d vector instead of a JSON list of floats.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from functools import wraps
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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("migrate")
        if own is None or getattr(own, "_chains_ai", False):
            return

        @wraps(own)
        def migrate(self: AIStore, _own: Callable[..., None] = own) -> None:
            _own(self)
            self.migrate_ai()

        migrate._chains_ai = True  # type: ignore[attr-defined]
        migrate._chains_tasks = getattr(own, "_chains_tasks", False)  # type: ignore[attr-defined]
        cls.migrate = migrate  # type: ignore[attr-defined]

    @abc.abstractmethod
    def migrate_ai(self) -> None:
        """Create the AI tables/collections and their indexes (idempotent)."""

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
