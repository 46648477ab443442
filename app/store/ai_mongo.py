"""MongoDB implementation of :class:`app.store.ai_base.AIStore` (mixed into MongoStore).

One document per record, ``_id`` = the record id (the submission id for
embeddings); vectors are BSON binary (float32 bytes). Records come out shaped
exactly like the SQLite ones.
"""

from __future__ import annotations

from typing import Any

from bson.binary import Binary

from app.store.ai_base import BENCHMARK_FIELDS, EMBEDDING_FIELDS, MODEL_FIELDS, AIStore, Record

_KEY = {"ai_models": "id", "ai_embeddings": "submission_id", "ai_benchmarks": "id"}
_FIELDS = {"ai_models": MODEL_FIELDS, "ai_embeddings": EMBEDDING_FIELDS, "ai_benchmarks": BENCHMARK_FIELDS}


def _doc(kind: str, record: Record) -> dict[str, Any]:
    unknown = set(record) - set(_FIELDS[kind])
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    doc: dict[str, Any] = {f: record.get(f) for f in _FIELDS[kind]}
    doc["_id"] = doc.pop(_KEY[kind])
    if kind == "ai_embeddings":
        doc["vector"] = Binary(bytes(doc["vector"]))
    return doc


def _rec(kind: str, doc: dict[str, Any] | None) -> Record | None:
    if doc is None:
        return None
    out: Record = {f: doc.get("_id") if f == _KEY[kind] else doc.get(f) for f in _FIELDS[kind]}
    if kind == "ai_embeddings":
        out["vector"] = bytes(out["vector"])
    return out


class AIMongoMixin(AIStore):
    """AI collections on the MongoDB store; the host class provides ``db``."""

    db: Any

    def put_model(self, model: Record) -> Record:
        doc = _doc("ai_models", model)
        self.db.ai_models.update_one({"path": doc["path"]}, {"$setOnInsert": doc}, upsert=True)
        return _rec("ai_models", self.db.ai_models.find_one({"path": doc["path"]}))  # type: ignore[return-value]

    def get_model(self, model_id: str) -> Record | None:
        return _rec("ai_models", self.db.ai_models.find_one({"_id": model_id}))

    def list_models(self) -> list[Record]:
        return [_rec("ai_models", d) for d in self.db.ai_models.find().sort([("created_at", 1), ("_id", 1)])]  # type: ignore[misc]

    def delete_model(self, model_id: str) -> bool:
        return self.db.ai_models.delete_one({"_id": model_id}).deleted_count > 0

    def put_embedding(self, rec: Record) -> None:
        doc = _doc("ai_embeddings", rec)
        self.db.ai_embeddings.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    def get_embedding(self, submission_id: str) -> Record | None:
        return _rec("ai_embeddings", self.db.ai_embeddings.find_one({"_id": submission_id}))

    def form_embeddings(self, form_id: str, model_sha256: str | None = None) -> list[Record]:
        flt: dict[str, Any] = {"form_id": form_id}
        if model_sha256 is not None:
            flt["model_sha256"] = model_sha256
        return [_rec("ai_embeddings", d) for d in self.db.ai_embeddings.find(flt).sort("_id", 1)]  # type: ignore[misc]

    def set_submission_meta_key(self, sub_id: str, key: str, value: Any) -> bool:
        return self.db.submissions.update_one({"_id": sub_id}, {"$set": {f"meta.{key}": value}}).matched_count > 0

    def put_benchmark(self, rec: Record) -> None:
        doc = _doc("ai_benchmarks", rec)
        self.db.ai_benchmarks.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    def get_benchmark(self, bench_id: str) -> Record | None:
        return _rec("ai_benchmarks", self.db.ai_benchmarks.find_one({"_id": bench_id}))
