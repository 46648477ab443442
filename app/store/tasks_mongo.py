"""MongoDB implementation of :class:`app.store.tasks_base.TasksStore` (mixed into MongoStore).

Records go through :mod:`app.store.records_mongo`; webhooks and deliveries
live in :mod:`app.store.webhooks_mongo`.
"""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from app.store.records import Record
from app.store.records_mongo import NEWEST, MongoRecords, from_doc, page_after, to_doc
from app.store.tasks_base import TasksStore


class TasksMongoMixin(MongoRecords, TasksStore):
    """Task records and done-marks on the MongoDB store."""

    # task records ----------------------------------------------------------------------
    def put_task(self, task: Record) -> bool:
        try:
            self.db.tasks.insert_one(to_doc("tasks", task))
        except DuplicateKeyError:
            return False
        return True

    def get_task(self, task_id: str) -> Record | None:
        return from_doc("tasks", self.db.tasks.find_one({"_id": task_id}))

    def update_task(self, task_id: str, changes: Record, states: tuple[str, ...] | None = None) -> Record | None:
        return self._m_update("tasks", task_id, changes, states)

    def list_tasks(self, state: str | None, created_by: str | None, after: tuple[str, str] | None,
                   limit: int) -> list[Record]:
        flt: dict[str, Any] = {}
        if state is not None:
            flt["state"] = state
        if created_by is not None:
            flt["created_by"] = created_by
        docs = self.db.tasks.find(page_after(flt, after)).sort(NEWEST).limit(limit)
        return [from_doc("tasks", d) for d in docs]  # type: ignore[misc]

    def count_tasks(self, state: str) -> int:
        return int(self.db.tasks.count_documents({"state": state}))

    def purge_tasks(self, finished_before: str) -> int:
        res = self.db.tasks.delete_many({"finished_at": {"$type": "string", "$lt": finished_before}})
        return int(res.deleted_count)

    # marks -------------------------------------------------------------------------------------
    def mark_done(self, key: str, at: str) -> bool:
        try:
            self.db.task_marks.insert_one({"_id": key, "at": at})
        except DuplicateKeyError:
            return False
        return True

    def is_done(self, key: str) -> bool:
        return self.db.task_marks.find_one({"_id": key}, {"_id": 1}) is not None
