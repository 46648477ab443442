"""Insert, conditional update and keyset paging of plain records on SQLite (tasks, webhooks, deliveries).

Shared by the task and webhook mixins of :class:`app.store.sqlite.SQLiteStore`;
uses the host class's connection helpers (``_tx``, ``_one``). JSON fields are
encoded here, so the core module's JSON column list stays as is.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from app.store.records import Record, shape

DEFAULTS: dict[str, Record] = {
    "tasks": {"attempts": 0, "cancel_requested": 0},
    "webhooks": {"active": 1, "consecutive_failures": 0, "include_sensitive": 0},
    "deliveries": {"attempts": 0},
}


def enc(record: Record, json_fields: frozenset[str]) -> Record:
    return {k: json.dumps(v, separators=(",", ":")) if k in json_fields and v is not None else v
            for k, v in record.items()}


def dec(row: Record | None, json_fields: frozenset[str]) -> Record | None:
    if row is None:
        return None
    for k in json_fields:
        if isinstance(row.get(k), str):
            row[k] = json.loads(row[k])
    return row


class SQLiteRecords:
    """The helpers; the host class provides the connection."""

    _tx: Any
    _one: Any
    _all: Any

    def _t_insert(self, conn: sqlite3.Connection, table: str, fields: tuple[str, ...], js: frozenset[str],
                  record: Record) -> None:
        rec = shape(fields, {**DEFAULTS.get(table, {}), **record})
        rec = {k: v for k, v in enc(rec, js).items() if v is not None or k not in DEFAULTS.get(table, {})}
        cols = ", ".join(rec)
        marks = ", ".join(f":{k}" for k in rec)
        conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rec)

    def _t_update(self, table: str, fields: tuple[str, ...], js: frozenset[str], row_id: str, changes: Record,
                  states: tuple[str, ...] | None, match: Record | None = None) -> Record | None:
        shape(fields, changes)
        encoded = enc(changes, js)
        assign = ", ".join(f"{k} = :{k}" for k in encoded)
        where = "id = :_id"
        params: dict[str, Any] = {**encoded, "_id": row_id}
        shape(fields, match or {})
        for i, (k, v) in enumerate((match or {}).items()):
            where += f" AND {k} = :_m{i}"  # a NULL never matches: no claim, no settling
            params[f"_m{i}"] = v
        if states is not None:
            where += f" AND state IN ({', '.join(f':_s{i}' for i in range(len(states)))})"
            params.update({f"_s{i}": s for i, s in enumerate(states)})
        with self._tx() as c:
            if c.execute(f"UPDATE {table} SET {assign} WHERE {where}", params).rowcount == 0:
                return None
        return dec(self._one(f"SELECT * FROM {table} WHERE id = ?", (row_id,)), js)

    @staticmethod
    def _page(where: list[str], params: list[Any], after: tuple[str, str] | None) -> None:
        if after is not None:
            where.append("(created_at, id) < (?, ?)")
            params.extend(after)
