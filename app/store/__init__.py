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
from app.store.interface import FmsStore
from app.store.migrations import MigrationLockLost, MigrationLockTimeout, MigrationResult, SchemaError, SchemaTooNew

__all__ = [
    "SHARE_ROLES", "SUBMISSION_STATUSES", "AnswerFilter", "Conflict", "FmsStore", "IdempotencyReplay", "LastAdmin",
    "MigrationLockLost", "MigrationLockTimeout", "MigrationResult", "Record", "SchemaError", "SchemaTooNew", "Store",
    "StoreError", "SubmissionQuery", "connect_store", "open_store",
]


def connect_store(settings: Settings) -> FmsStore:
    """The configured backend as it is, NOT migrated (``fms migrate --check`` must not write)."""
    if settings.mongodb_uri:
        from app.store.mongo import MongoStore

        return MongoStore.from_uri(settings.mongodb_uri, settings.mongodb_db)
    from app.store.sqlite import SQLiteStore

    return SQLiteStore(settings.sqlite_path, settings.sqlite_synchronous)


def open_store(settings: Settings) -> FmsStore:
    """The configured backend, migrated to this release's schema under the migration lock.

    Every process calls this at start, so whatever starts first (``fms migrate``
    in the deploy, the API workers, a worker) applies pending steps once and the
    rest find the schema at head. Raises :class:`SchemaTooNew` when a newer
    release already migrated the database.
    """
    store = connect_store(settings)
    store.migrate()
    return store
