"""MongoDB migrations: the ordered table and the runner (the ``meta`` document ``schema`` holds the version).

A standalone mongod has no multi-document transactions, so the lock is a
document: ``{"_id": "migration_lock", "owner", "expires_at"}`` in ``meta``,
taken with one ``find_one_and_update`` upsert that matches only a free or
expired lock (a held one makes the upsert collide on ``_id``:
``DuplicateKeyError``, someone else has it). The expiry lets a process take
over from one that died mid-migration; the holder renews it after each step
and stops (``MigrationLockLost``) if a step outlived the TTL and the lock is
someone else's now. The version only moves up (``$max``), so a slow former
holder's late write cannot move it back.
Steps must be idempotent (index creation is), because a crash between a
step and its version bump runs that step again.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.store.migrations import (
    Migration,
    MigrationLockLost,
    MigrationLockTimeout,
    MigrationResult,
    check_table,
    head,
    pending,
)

BACKEND = "mongodb"
META = "meta"
SCHEMA_ID = "schema"
LOCK_ID = "migration_lock"
LOCK_TTL_S = 120.0  # a holder that died frees the lock after this; renewed after every step
POLL_S = 0.2


def _v1_initial(db: Any) -> None:
    """Every index of the release before numbered migrations (the core, task and AI collections)."""
    db.users.create_index("username", unique=True, name="username_unique")
    db.credentials.create_index("token_hash", unique=True, name="token_hash_unique")
    db.credentials.create_index([("kind", 1), ("user_id", 1), ("created_at", 1)], name="by_kind_user")
    db.forms.create_index([("deleted_at", 1), ("_id", -1)], name="forms_live")
    db.forms.create_index([("owner_id", 1), ("_id", -1)], name="forms_by_owner")
    db.form_shares.create_index([("form_id", 1), ("created_at", 1)], name="by_form")
    db.form_shares.create_index([("user_id", 1), ("form_id", 1)], name="by_user")
    db.form_versions.create_index([("form_id", 1), ("version", 1)], unique=True, name="form_version_unique")
    subs = db.submissions
    subs.create_index([("form_id", 1), ("deleted_at", 1), ("created_at", DESCENDING), ("_id", DESCENDING)],
                      name="by_form")
    subs.create_index([("form_id", 1), ("status", 1), ("created_at", 1), ("_id", 1)], name="by_form_status")
    subs.create_index([("idem.scope", 1), ("idem.key", 1)], unique=True, name="idempotency_unique",
                      partialFilterExpression={"idem": {"$exists": True}})
    subs.create_index([("pending_events.created_at", 1)], name="pending_events",
                      partialFilterExpression={"pending_events.created_at": {"$exists": True}})
    subs.create_index([("pending_events.id", 1)], name="pending_event_ids",
                      partialFilterExpression={"pending_events.id": {"$exists": True}})
    subs.create_index([("deleted_at", 1)], name="deleted", partialFilterExpression={"deleted_at": {"$type": "string"}})
    # rows changed after they were written (every update moves rev past 1): analytics' live part
    subs.create_index([("form_id", 1), ("created_at", 1)], name="changed", partialFilterExpression={"rev": {"$gt": 1}})
    db.purged_submissions.create_index([("form_id", 1), ("created_at", 1)], name="by_form")
    db.links.create_index("token_hash", unique=True, name="token_hash_unique")
    db.links.create_index([("form_id", 1), ("created_at", 1)], name="by_form")
    # audit: _id is the seq, so the primary key index is the unique seq index.
    db.outbox.create_index([("pending_at", 1), ("_id", 1)], name="pending",
                           partialFilterExpression={"pending_at": {"$exists": True}})
    _v1_tasks(db)
    db.ai_models.create_index([("path", 1)], unique=True, name="path")
    db.ai_embeddings.create_index([("form_id", 1), ("model_sha256", 1), ("_id", 1)], name="by_form")


def _v1_tasks(db: Any) -> None:
    db.tasks.create_index([("state", 1), ("created_at", -1), ("_id", -1)], name="by_state")
    db.tasks.create_index([("created_by", 1), ("created_at", -1), ("_id", -1)], name="by_creator")
    db.tasks.create_index([("created_at", -1), ("_id", -1)], name="by_created")
    db.tasks.create_index([("finished_at", 1)], name="finished",
                          partialFilterExpression={"finished_at": {"$type": "string"}})
    db.webhooks.create_index([("form_id", 1), ("created_at", 1)], name="by_form")
    db.deliveries.create_index([("event_id", 1), ("endpoint_id", 1)], unique=True, name="event_endpoint")
    db.deliveries.create_index([("endpoint_id", 1), ("created_at", -1), ("_id", -1)], name="by_endpoint")
    db.deliveries.create_index([("endpoint_id", 1), ("state", 1), ("created_at", -1), ("_id", -1)],
                               name="by_endpoint_state")
    db.deliveries.create_index([("state", 1), ("next_attempt_at", 1)], name="due")
    older = {"state": {"$in": ["pending", "retrying"]}, "next_attempt_at": {"$exists": False}}
    for doc in db.deliveries.find(older, {"updated_at": 1}):  # waiting deliveries of older databases: due now
        db.deliveries.update_one({"_id": doc["_id"]}, {"$set": {"next_attempt_at": doc.get("updated_at")}})


def _v2_credentials_by_user(db: Any) -> None:
    """Deleting a user deletes its credentials by ``user_id``; the only index led with ``kind``."""
    db.credentials.create_index([("user_id", 1)], name="by_user")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial indexes (adopts a database of the release before numbered migrations)", _v1_initial),
    Migration(2, "index credentials by user (user deletion)", _v2_credentials_by_user),
)
check_table(MIGRATIONS)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # the client is tz_aware=False: naive UTC round-trips


def version(db: Any) -> int:
    doc = db[META].find_one({"_id": SCHEMA_ID}, {"version": 1})
    return int(doc["version"]) if doc else 0


def _try_lock(db: Any, owner: str, ttl_s: float) -> bool:
    now = _now()
    free = {"_id": LOCK_ID, "$or": [{"owner": None}, {"expires_at": {"$lte": now}}]}
    try:
        db[META].find_one_and_update(
            free, {"$set": {"owner": owner, "taken_at": now, "expires_at": now + timedelta(seconds=ttl_s)}},
            upsert=True, return_document=ReturnDocument.AFTER)
    except DuplicateKeyError:  # the lock document exists and is held
        return False
    return True


@contextmanager
def lock(db: Any, ttl_s: float = LOCK_TTL_S, wait_s: float | None = None) -> Iterator[str]:
    """Hold the migration lock; waits (polling) up to ``wait_s`` (default: twice the TTL).

    Waiting past one TTL means the holder stopped renewing: its lock expires
    and we take it over, so a crashed start never blocks later ones for good.
    """
    owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    deadline = time.monotonic() + (2 * ttl_s if wait_s is None else wait_s)
    while not _try_lock(db, owner, ttl_s):
        if time.monotonic() >= deadline:
            held = db[META].find_one({"_id": LOCK_ID}) or {}
            raise MigrationLockTimeout(f"the MongoDB migration lock is held by {held.get('owner')} "
                                       f"until {held.get('expires_at')} (UTC); retry, or delete the "
                                       f"meta document {LOCK_ID!r} if that process is gone")
        time.sleep(POLL_S)
    try:
        yield owner
    finally:
        db[META].update_one({"_id": LOCK_ID, "owner": owner}, {"$set": {"owner": None, "expires_at": None}})


def _renew(db: Any, owner: str, ttl_s: float) -> None:
    """Push our lock's expiry on; :class:`MigrationLockLost` when it is no longer ours.

    A step that ran past the TTL lets another process take the lock over; going
    on would run the next steps twice, concurrently, so the run stops here.
    """
    renewed = db[META].update_one({"_id": LOCK_ID, "owner": owner},
                                  {"$set": {"expires_at": _now() + timedelta(seconds=ttl_s)}})
    if renewed.matched_count == 0:
        held = db[META].find_one({"_id": LOCK_ID}) or {}
        raise MigrationLockLost(f"the MongoDB migration lock expired during a step (TTL {ttl_s:g} s) and is now "
                                f"held by {held.get('owner')}; this run stopped so that only one process "
                                f"applies steps. The schema is at version {version(db)}; start again to resume")


def migrate(db: Any, migrations: Sequence[Migration] = MIGRATIONS, ttl_s: float = LOCK_TTL_S,
            wait_s: float | None = None) -> MigrationResult:
    """Apply the pending steps under the lock document; refuse a schema newer than ``migrations``."""
    check_table(migrations)
    found = version(db)
    if not pending(migrations, BACKEND, found):  # the common start: at head, no lock taken
        return MigrationResult(BACKEND, found, found)
    with lock(db, ttl_s, wait_s) as owner:
        found = version(db)  # another process may have migrated while we waited
        steps = pending(migrations, BACKEND, found)
        for step in steps:
            step.apply(db)
            db[META].update_one(
                {"_id": SCHEMA_ID},
                {"$max": {"version": step.version},  # a holder that lost the lock never moves it back
                 "$push": {"applied": {"version": step.version, "name": step.name, "at": _now(), "by": owner}}},
                upsert=True)
            _renew(db, owner, ttl_s)
    return MigrationResult(BACKEND, found, head(migrations) if steps else found, tuple(s.version for s in steps))


def status(db: Any, migrations: Sequence[Migration] = MIGRATIONS) -> tuple[int, int]:
    """(the database's version, the newest this code knows); nothing written."""
    return version(db), head(migrations)
