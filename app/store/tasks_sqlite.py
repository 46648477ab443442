"""SQLite implementation of :class:`app.store.tasks_base.TasksStore` (mixed into SQLiteStore).

Records go through :mod:`app.store.records_sqlite`; webhooks and deliveries
live in :mod:`app.store.webhooks_sqlite`.
"""

from __future__ import annotations

import sqlite3

from app.store.records import Record
from app.store.records_sqlite import SQLiteRecords, dec
from app.store.tasks_base import TASK_FIELDS, TASK_JSON, TasksStore


class TasksSQLiteMixin(SQLiteRecords, TasksStore):
    """Task records and done-marks on the SQLite store."""

    # task records ----------------------------------------------------------------
    def put_task(self, task: Record) -> bool:
        try:
            with self._tx() as c:
                self._t_insert(c, "tasks", TASK_FIELDS, TASK_JSON, task)
        except sqlite3.IntegrityError:
            return False
        return True

    def get_task(self, task_id: str) -> Record | None:
        return dec(self._one("SELECT * FROM tasks WHERE id = ?", (task_id,)), TASK_JSON)

    def update_task(self, task_id: str, changes: Record, states: tuple[str, ...] | None = None) -> Record | None:
        return self._t_update("tasks", TASK_FIELDS, TASK_JSON, task_id, changes, states)

    def list_tasks(self, state: str | None, created_by: str | None, after: tuple[str, str] | None,
                   limit: int) -> list[Record]:
        where, params = ["1 = 1"], []
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if created_by is not None:
            where.append("created_by = ?")
            params.append(created_by)
        self._page(where, params, after)
        sql = f"SELECT * FROM tasks WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?"
        return [dec(r, TASK_JSON) for r in self._all(sql, (*params, limit))]  # type: ignore[misc]

    def count_tasks(self, state: str) -> int:
        return int(self._one("SELECT COUNT(*) AS n FROM tasks WHERE state = ?", (state,))["n"])

    def purge_tasks(self, finished_before: str) -> int:
        with self._tx() as c:
            return int(c.execute(
                "DELETE FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ?", (finished_before,)
            ).rowcount)

    # marks -----------------------------------------------------------------------------
    def mark_done(self, key: str, at: str) -> bool:
        with self._tx() as c:
            return int(c.execute("INSERT OR IGNORE INTO task_marks (key, at) VALUES (?, ?)", (key, at)).rowcount) > 0

    def is_done(self, key: str) -> bool:
        return self._one("SELECT 1 AS x FROM task_marks WHERE key = ?", (key,)) is not None
