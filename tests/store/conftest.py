"""Fixtures for the store contract suite: one ``store`` per backend.

* ``sqlite``: the embedded default, a real SQLite file under ``tmp_path``.
* ``mongomock``: a STAND-IN for MongoDB. No mongod can be installed on the CI
  machines (no Debian package, no internet beyond PyPI), so CI runs the
  MongoDB backend against mongomock's in-memory emulation of pymongo. It
  checks our query/update documents and record shapes, not MongoDB itself
  (no real index use, no real concurrency).
* ``mongodb``: a real server, only when ``MONGODB_URI`` is set; each test gets
  its own database, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from app.store.base import Store

BACKENDS = ("sqlite", "mongomock", "mongodb")


def _sqlite(tmp_path: Path) -> Iterator[Store]:
    from app.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "fms.sqlite3")
    store.migrate()
    yield store
    store.close()


def _mongomock() -> Iterator[Store]:
    import mongomock

    from app.store.mongo import MongoStore

    store = MongoStore(mongomock.MongoClient()["fms_test"])
    store.migrate()
    yield store


def _mongodb() -> Iterator[Store]:
    uri = os.environ.get("MONGODB_URI", "")
    if not uri:
        pytest.skip("MONGODB_URI not set: no real MongoDB server to test against")
    from app.store.mongo import MongoStore

    name = f"fms_test_{uuid.uuid4().hex[:12]}"
    store = MongoStore.from_uri(uri, name)
    store.migrate()
    try:
        yield store
    finally:
        store.db.client.drop_database(name)
        store.close()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same contract, once per backend."""
    if request.param == "sqlite":
        yield from _sqlite(tmp_path)
    elif request.param == "mongomock":
        yield from _mongomock()
    else:
        yield from _mongodb()


@pytest.fixture(params=("mongomock", "mongodb"))
def mongo_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """The MongoDB backend only, for checks of how it lays out documents."""
    yield from (_mongomock() if request.param == "mongomock" else _mongodb())


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    yield from _sqlite(tmp_path)
