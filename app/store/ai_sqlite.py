"""SQLite implementation of :class:`app.store.ai_base.AIStore` (mixed into SQLiteStore).

Uses the host class's connection helpers (``_tx``, ``_one``, ``_all``, ``_conn``).
Vectors are BLOBs of float32; JSON fields are encoded here.
"""

from __future__ import annotations

import json
from typing import Any

from app.store.ai_base import (
    BENCHMARK_FIELDS,
    BENCHMARK_JSON,
    EMBEDDING_FIELDS,
    MODEL_FIELDS,
    MODEL_JSON,
    AIStore,
    Record,
)


def _enc(record: Record, fields: tuple[str, ...], js: frozenset[str]) -> Record:
    unknown = set(record) - set(fields)
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    return {f: json.dumps(record.get(f), separators=(",", ":")) if f in js and record.get(f) is not None
            else record.get(f) for f in fields}


def _dec(row: Record | None, js: frozenset[str]) -> Record | None:
    if row is None:
        return None
    row = dict(row)
    for k in js:
        if isinstance(row.get(k), str):
            row[k] = json.loads(row[k])
    return row


def _insert_sql(table: str, fields: tuple[str, ...], verb: str = "INSERT") -> str:
    return f"{verb} INTO {table} ({', '.join(fields)}) VALUES ({', '.join(':' + f for f in fields)})"


class AISQLiteMixin(AIStore):
    """AI tables on the SQLite store; the host class provides the connection."""

    _tx: Any
    _one: Any
    _all: Any

    # models -------------------------------------------------------------------------
    def put_model(self, model: Record) -> Record:
        with self._tx() as c:
            c.execute(_insert_sql("ai_models", MODEL_FIELDS, "INSERT OR IGNORE"), _enc(model, MODEL_FIELDS, MODEL_JSON))
        return _dec(self._one("SELECT * FROM ai_models WHERE path = ?", (model["path"],)), MODEL_JSON)  # type: ignore[return-value]

    def get_model(self, model_id: str) -> Record | None:
        return _dec(self._one("SELECT * FROM ai_models WHERE id = ?", (model_id,)), MODEL_JSON)

    def list_models(self) -> list[Record]:
        return [_dec(r, MODEL_JSON) for r in self._all("SELECT * FROM ai_models ORDER BY created_at, id")]  # type: ignore[misc]

    def delete_model(self, model_id: str) -> bool:
        with self._tx() as c:
            return c.execute("DELETE FROM ai_models WHERE id = ?", (model_id,)).rowcount > 0

    # embeddings -----------------------------------------------------------------------
    def put_embedding(self, rec: Record) -> None:
        with self._tx() as c:
            c.execute(_insert_sql("ai_embeddings", EMBEDDING_FIELDS, "INSERT OR REPLACE"),
                      _enc(rec, EMBEDDING_FIELDS, frozenset()))

    def get_embedding(self, submission_id: str) -> Record | None:
        row = self._one("SELECT * FROM ai_embeddings WHERE submission_id = ?", (submission_id,))
        return _blob(row)

    def form_embeddings(self, form_id: str, model_sha256: str | None = None) -> list[Record]:
        sql, params = "SELECT * FROM ai_embeddings WHERE form_id = ?", [form_id]
        if model_sha256 is not None:
            sql += " AND model_sha256 = ?"
            params.append(model_sha256)
        return [_blob(r) for r in self._all(sql + " ORDER BY submission_id", tuple(params))]  # type: ignore[misc]

    # submission meta -------------------------------------------------------------------
    def set_submission_meta_key(self, sub_id: str, key: str, value: Any) -> bool:
        with self._tx() as c:
            row = c.execute("SELECT meta FROM submissions WHERE id = ?", (sub_id,)).fetchone()
            if row is None:
                return False
            meta = row["meta"]
            meta = json.loads(meta) if isinstance(meta, str) else dict(meta or {})
            meta[key] = value
            c.execute("UPDATE submissions SET meta = ? WHERE id = ?", (json.dumps(meta, separators=(",", ":")), sub_id))
        return True

    # benchmarks ---------------------------------------------------------------------------
    def put_benchmark(self, rec: Record) -> None:
        with self._tx() as c:
            c.execute(_insert_sql("ai_benchmarks", BENCHMARK_FIELDS, "INSERT OR REPLACE"),
                      _enc(rec, BENCHMARK_FIELDS, BENCHMARK_JSON))

    def get_benchmark(self, bench_id: str) -> Record | None:
        return _dec(self._one("SELECT * FROM ai_benchmarks WHERE id = ?", (bench_id,)), BENCHMARK_JSON)


def _blob(row: Record | None) -> Record | None:
    if row is None:
        return None
    out = dict(row)
    out["vector"] = bytes(out["vector"])
    return out
