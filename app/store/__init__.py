"""Store factory: SQLite by default, MongoDB when ``MONGODB_URI`` is set."""

from __future__ import annotations

from app.settings import Settings
from app.store.base import (
    SHARE_ROLES,
    SUBMISSION_STATUSES,
    AnswerFilter,
    Conflict,
    IdempotencyReplay,
    LastAdmin,
    Record,
    Store,
    StoreError,
    SubmissionQuery,
)

__all__ = [
    "SHARE_ROLES", "SUBMISSION_STATUSES", "AnswerFilter", "Conflict", "IdempotencyReplay", "LastAdmin", "Record",
    "Store",
    "StoreError", "SubmissionQuery", "open_store",
]


def open_store(settings: Settings) -> Store:
    """The configured backend, migrated (tables and indexes exist on return)."""
    store: Store
    if settings.mongodb_uri:
        from app.store.mongo import MongoStore

        store = MongoStore.from_uri(settings.mongodb_uri, settings.mongodb_db)
    else:
        from app.store.sqlite import SQLiteStore

        store = SQLiteStore(settings.sqlite_path, settings.sqlite_synchronous)
    store.migrate()
    return store
