"""Fixtures for the store contract suite: one ``store`` per backend.

* ``sqlite``: the embedded default, a real SQLite file under ``tmp_path``.
* ``mongomock``: a STAND-IN for MongoDB. No mongod can be installed on the CI
  machines (no Debian package, no internet beyond PyPI), so CI runs the
  MongoDB backend against mongomock's in-memory emulation of pymongo. It
  checks our query/update documents and record shapes, not MongoDB itself
  (no real index use, no real concurrency).
* ``mongodb``: a real server, only when ``MONGODB_URI`` is set; each test gets
  its own database, dropped afterwards.

``store`` is migrated; ``bare_store`` is an empty, unmigrated database and
``legacy_store`` one holding the frozen snapshot of the release before
numbered migrations (``fixtures/``), both for the migration tests.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from app.store.interface import FmsStore

BACKENDS = ("sqlite", "mongomock", "mongodb")
FIXTURES = Path(__file__).parent / "fixtures"


def _sqlite(tmp_path: Path, migrate: bool = True, snapshot: bool = False) -> Iterator[FmsStore]:
    from app.store.sqlite import SQLiteStore

    path = tmp_path / "fms.sqlite3"
    if snapshot:
        load_sqlite_snapshot(path)
    store = SQLiteStore(path)
    if migrate:
        store.migrate()
    yield store
    store.close()


def _mongomock(migrate: bool = True, snapshot: bool = False) -> Iterator[FmsStore]:
    import mongomock

    from app.store.mongo import MongoStore

    store = MongoStore(mongomock.MongoClient()["fms_test"])
    if snapshot:
        load_mongo_snapshot(store.db)
    if migrate:
        store.migrate()
    yield store


def _mongodb(migrate: bool = True, snapshot: bool = False) -> Iterator[FmsStore]:
    uri = os.environ.get("MONGODB_URI", "")
    if not uri:
        pytest.skip("MONGODB_URI not set: no real MongoDB server to test against")
    from app.store.mongo import MongoStore

    name = f"fms_test_{uuid.uuid4().hex[:12]}"
    store = MongoStore.from_uri(uri, name)
    if snapshot:
        load_mongo_snapshot(store.db)
    if migrate:
        store.migrate()
    try:
        yield store
    finally:
        store.db.client.drop_database(name)
        store.close()


def _backend(kind: str, tmp_path: Path, migrate: bool = True, snapshot: bool = False) -> Iterator[FmsStore]:
    if kind == "sqlite":
        return _sqlite(tmp_path, migrate, snapshot)
    if kind == "mongomock":
        return _mongomock(migrate, snapshot)
    return _mongodb(migrate, snapshot)


def load_sqlite_snapshot(path: Path) -> None:
    """A database written by the release before numbered migrations (fixtures/schema_v1.sql)."""
    conn = sqlite3.connect(path)
    conn.executescript((FIXTURES / "schema_v1.sql").read_text())
    conn.close()


def load_mongo_snapshot(db: Any) -> None:
    """The same for MongoDB: fixtures/mongo_v1.json's documents and indexes, no ``meta`` collection."""
    from bson import json_util

    snapshot = json_util.loads((FIXTURES / "mongo_v1.json").read_text())
    for name, coll in snapshot.items():
        if name.startswith("_"):
            continue
        if coll["documents"]:
            db[name].insert_many(coll["documents"])
        for index_name, spec in coll["indexes"].items():
            options = {k: v for k, v in spec.items() if k not in {"key", "ns"}}
            db[name].create_index([tuple(k) for k in spec["key"]], name=index_name, **options)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FmsStore]:
    """The same contract, once per backend."""
    yield from _backend(request.param, tmp_path)


@pytest.fixture(params=BACKENDS)
def bare_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FmsStore]:
    """An empty database of each backend, NOT migrated (the migration tests)."""
    yield from _backend(request.param, tmp_path, migrate=False)


@pytest.fixture(params=BACKENDS)
def legacy_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FmsStore]:
    """Each backend holding the pre-migration snapshot (rows in every table), NOT migrated yet."""
    yield from _backend(request.param, tmp_path, migrate=False, snapshot=True)


@pytest.fixture(params=("mongomock", "mongodb"))
def mongo_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FmsStore]:
    """The MongoDB backend only, for checks of how it lays out documents."""
    yield from _backend(request.param, tmp_path)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[FmsStore]:
    yield from _sqlite(tmp_path)
