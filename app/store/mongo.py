"""MongoDB backend: used when ``MONGODB_URI`` is set (shared by several hosts).

Records come out exactly as the SQLite backend returns them: every column
present (``None`` when unset), ``_id`` renamed to the record's own id, and no
internal field ever leaked. Reads use inclusion projections, never the whole
document.

Atomicity without multi-document transactions (a standalone mongod and
mongomock have none): every store method that must write several records at
once writes ONE document.

* ``insert_submission`` embeds the outbox events (``pending_events``) and the
  idempotency record (``idem``, unique partial index on scope+key) in the
  submission document, so a submission, its webhooks and its key are stored
  together or not at all.
* ``update_submission`` is one conditional update (``rev`` compare-and-set)
  that sets the changes and pushes the revision (``revisions``) and the
  events in the same document write.
* ``add_form_version``: the conditional update of the form document is the
  commit point; the ``form_versions`` row is an idempotent upsert made after
  it. If the process dies in between, readers synthesize the missing current
  version from the form document, and the next version write first re-upserts
  the previous one from the pre-image it read atomically, so no version is
  ever lost and a stale writer never writes anything.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from app.store.ai_mongo import AIMongoMixin
from app.store.analytics_mongo import AnalyticsMongoMixin
from app.store.base import (
    Conflict,
    IdempotencyReplay,
    LastAdmin,
    Record,
    StoreError,
    SubmissionQuery,
)
from app.store.interface import FmsStore
from app.store.migrations import Migration, MigrationResult
from app.store.migrations import mongo as mongo_migrations
from app.store.tasks_mongo import TasksMongoMixin
from app.store.timing import timed
from app.store.webhooks_mongo import WebhooksMongoMixin

# The record shape of each collection: the SQLite columns, in order. The
# first entry of _ID_FIELD names the one stored as ``_id``.
FIELDS: dict[str, tuple[str, ...]] = {
    "users": ("id", "username", "password_hash", "role", "active", "created_at", "updated_at"),
    "credentials": ("id", "kind", "token_hash", "user_id", "name", "role", "scope", "forms", "prefix",
                    "expires_at", "revoked_at", "created_at"),
    "forms": ("id", "owner_id", "version", "title", "description", "schema", "settings", "sensitive",
              "created_at", "updated_at", "deleted_at"),
    "form_versions": ("form_id", "version", "title", "description", "schema", "settings", "sensitive",
                      "created_at", "created_by"),
    "submissions": ("id", "form_id", "form_version", "status", "answers", "meta", "rev", "created_by",
                    "created_at", "updated_at", "deleted_at"),
    "revisions": ("submission_id", "rev", "status", "answers", "changed_by", "changed_at"),
    "idempotency": ("scope", "key", "body_hash", "status_code", "response", "created_at"),
    "links": ("id", "form_id", "token_hash", "prefix", "expires_at", "quota", "used", "created_by",
              "created_at", "revoked_at"),
    "audit": ("seq", "at", "actor", "action", "target", "details", "prev_hash", "hash"),
    "form_shares": ("form_id", "user_id", "role", "granted_by", "created_at", "updated_at"),
    "outbox": ("id", "topic", "key", "payload", "created_at", "sent_at", "request_id"),
}
# Which record field is the document ``_id`` (None: an internal id, never returned).
_ID_FIELD: dict[str, str | None] = {
    "users": "id", "credentials": "id", "forms": "id", "form_versions": None, "submissions": "id",
    "links": "id", "audit": "seq", "outbox": "id", "form_shares": None,
}
# Column defaults of the SQLite schema, so both backends return the same values.
_DEFAULTS: dict[str, dict[str, Any]] = {"users": {"active": 1}, "submissions": {"rev": 1}, "links": {"used": 0}}
EVENT_FIELDS = ("id", "topic", "key", "payload", "created_at", "request_id")
_VERSION_COLS = ("title", "description", "schema", "settings", "sensitive")
_ACTIVE_ADMIN = {"role": "admin", "active": {"$in": [1, True]}}
_OPS = {"eq": "$eq", "ne": "$ne", "gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte", "in": "$in"}


def _check_keys(kind: str, keys: Iterable[str]) -> None:
    """Unknown fields are a caller bug (SQLite would reject the column too)."""
    unknown = set(keys) - set(FIELDS[kind])
    if unknown:
        raise ValueError(f"unknown {kind} fields: {sorted(unknown)}")


def _to_doc(kind: str, record: Record) -> dict[str, Any]:
    """A record as stored: all columns present, the id field moved to ``_id``."""
    _check_keys(kind, record)
    defaults = _DEFAULTS.get(kind, {})
    doc = {f: record.get(f, defaults.get(f)) for f in FIELDS[kind]}
    if kind == "submissions" and doc["meta"] is None:
        doc["meta"] = {}  # the SQLite column default
    id_field = _ID_FIELD.get(kind)
    if id_field is not None:
        doc["_id"] = doc.pop(id_field)
    return doc


def _from_doc(kind: str, doc: dict[str, Any]) -> Record:
    """The SQLite-shaped record of a (projected) document; internal fields dropped."""
    id_field = _ID_FIELD.get(kind)
    return {f: doc.get("_id") if f == id_field else doc.get(f) for f in FIELDS[kind]}


def _projection(kind: str, *extra: str) -> dict[str, int]:
    """Inclusion projection of exactly the record fields (plus ``extra`` internals)."""
    id_field = _ID_FIELD.get(kind)
    proj = {f: 1 for f in FIELDS[kind] if f != id_field}
    proj.update({e: 1 for e in extra})
    if id_field is None:
        proj["_id"] = 0
    return proj


def _event_doc(event: Record) -> dict[str, Any]:
    unknown = set(event) - {*EVENT_FIELDS, "sent_at"}
    if unknown:
        raise ValueError(f"unknown event fields: {sorted(unknown)}")
    if not event.get("id") or not event.get("created_at"):
        raise ValueError("an event needs an id and created_at")
    return {f: event.get(f) for f in EVENT_FIELDS}


def _plain_field(name: str) -> bool:
    """True when ``answers.<name>`` is a safe MongoDB path (no nesting, no operator)."""
    return bool(name) and "." not in name and not name.startswith("$") and "\x00" not in name


def _answer_condition(op: str, value: Any) -> dict[str, Any]:
    if op not in _OPS:
        raise StoreError(f"unknown filter operator {op!r}")
    if op == "ne":
        # SQL semantics (what the SQLite backend does): NULL/absent never matches.
        return {"$nin": [value, None]}
    if op == "in":
        return {"$in": list(value)}
    return {_OPS[op]: value}


class MongoStore(AIMongoMixin, TasksMongoMixin, WebhooksMongoMixin, AnalyticsMongoMixin, FmsStore):
    """The Store contract on MongoDB (or anything pymongo-compatible, e.g. mongomock)."""

    backend = "mongodb"
    migrations: tuple[Migration, ...] = mongo_migrations.MIGRATIONS  # a test may define a longer table

    def __init__(self, db: Database, *, uri: str | None = None) -> None:
        self._database = db
        self._uri = uri
        self._pid = os.getpid()

    @classmethod
    def from_uri(cls, uri: str, db_name: str) -> MongoStore:
        """A store on ``uri``; the client is re-created after a fork (gunicorn workers)."""
        return cls(cls._client(uri)[db_name], uri=uri)

    @staticmethod
    def _client(uri: str) -> MongoClient[dict[str, Any]]:
        # connect=False: no socket before the first query, so a pre-fork master
        # never hands a live connection pool to its workers.
        return MongoClient(uri, connect=False, tz_aware=False, serverSelectionTimeoutMS=5000)

    @property
    def db(self) -> Database:
        if self._uri is not None and self._pid != os.getpid():
            self._database = self._client(self._uri)[self._database.name]
            self._pid = os.getpid()
        return self._database

    # lifecycle ---------------------------------------------------------------
    def migrate(self) -> MigrationResult:
        """The numbered migrations of :mod:`app.store.migrations.mongo`, under the lock document."""
        return mongo_migrations.migrate(self.db, self.migrations)

    def schema_status(self) -> tuple[int, int]:
        return mongo_migrations.status(self.db, self.migrations)

    def ping(self) -> None:
        self.db.command("ping")

    def close(self) -> None:
        if self._uri is not None:
            self._database.client.close()

    # users -------------------------------------------------------------------
    @timed("create_user")
    def create_user(self, user: Record) -> None:
        try:
            self.db.users.insert_one(_to_doc("users", user))
        except DuplicateKeyError as exc:
            raise Conflict("username already taken") from exc

    def _find_one(self, kind: str, flt: dict[str, Any]) -> Record | None:
        doc = self.db[kind].find_one(flt, _projection(kind))
        return None if doc is None else _from_doc(kind, doc)

    def _find(self, kind: str, flt: dict[str, Any], sort: list[tuple[str, int]],
              limit: int | None = None) -> list[Record]:
        if limit is not None and limit <= 0:
            return []  # SQL's LIMIT 0; pymongo would read limit(0) as "no limit"
        cursor = self.db[kind].find(flt, _projection(kind)).sort(sort)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [_from_doc(kind, d) for d in cursor]

    @timed("get_user")
    def get_user(self, user_id: str) -> Record | None:
        return self._find_one("users", {"_id": user_id})

    @timed("get_user")
    def get_user_by_name(self, username: str) -> Record | None:
        return self._find_one("users", {"username": username})

    @timed("list_users")
    def list_users(self) -> list[Record]:
        return self._find("users", {}, [("username", ASCENDING)])

    @timed("update_user")
    def update_user(self, user_id: str, changes: Record, *, keep_admin: bool = False) -> Record | None:
        _check_keys("users", changes)
        if "id" in changes:
            raise ValueError("a user's id cannot change")
        if not changes:
            return self.get_user(user_id)
        try:
            before = self.db.users.find_one_and_update(
                {"_id": user_id}, {"$set": dict(changes)}, projection=_projection("users"),
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError as exc:
            raise Conflict("username already taken") from exc
        if before is None:
            return None
        if keep_admin and self._active_admin(before) and not self.db.users.find_one(_ACTIVE_ADMIN, {"_id": 1}):
            # No transactions: undo by compensation. Two admins demoting each other both see
            # none left and both undo, so the worst case is that neither change sticks.
            self.db.users.update_one({"_id": user_id}, {"$set": {k: before.get(k) for k in changes}})
            raise LastAdmin("this would leave no active administrator")
        return self.get_user(user_id)

    @staticmethod
    def _active_admin(doc: dict[str, Any]) -> bool:
        return doc.get("role") == "admin" and doc.get("active") in (1, True)

    @timed("delete_user")
    def delete_user(self, user_id: str, *, keep_admin: bool = False) -> bool:
        if keep_admin:  # deactivate first, guarded: an admin that may go may also be deleted
            self.update_user(user_id, {"active": 0}, keep_admin=True)
        # Credentials first: a crash in between leaves a user without keys, never keys without a user.
        self.db.credentials.delete_many({"user_id": user_id})
        self.db.form_shares.delete_many({"user_id": user_id})
        return self.db.users.delete_one({"_id": user_id}).deleted_count > 0

    @timed("count_users")
    def count_users(self) -> int:
        return self.db.users.count_documents({})

    # credentials ---------------------------------------------------------------
    @timed("create_credential")
    def create_credential(self, cred: Record) -> None:
        try:
            self.db.credentials.insert_one(_to_doc("credentials", cred))
        except DuplicateKeyError as exc:
            raise Conflict("credential exists") from exc

    @timed("get_credential")
    def get_credential_by_hash(self, token_hash: str) -> Record | None:
        return self._find_one("credentials", {"token_hash": token_hash})

    @timed("list_credentials")
    def list_credentials(self, kind: str, user_id: str | None = None) -> list[Record]:
        flt: dict[str, Any] = {"kind": kind}
        if user_id is not None:
            flt["user_id"] = user_id
        return self._find("credentials", flt, [("created_at", ASCENDING)])

    @timed("revoke_credential")
    def revoke_credential(self, cred_id: str, at: str) -> bool:
        res = self.db.credentials.update_one({"_id": cred_id, "revoked_at": None}, {"$set": {"revoked_at": at}})
        return res.modified_count > 0

    # forms ---------------------------------------------------------------------
    @staticmethod
    def _version_doc(form: Record) -> dict[str, Any]:
        """The form_versions row of a form record (or of a stored form document)."""
        row = {k: form.get(k) for k in _VERSION_COLS}
        form_id = form.get("id", form.get("_id"))
        return {**row, "form_id": form_id, "version": form["version"],
                "created_at": form["updated_at"], "created_by": form.get("updated_by")}

    def _put_version(self, version: dict[str, Any], overwrite: bool) -> None:
        """Idempotent upsert of one version row (``overwrite=False``: only if missing)."""
        key = {"_id": f"{version['form_id']}:{version['version']}"}
        update = {"$set": version} if overwrite else {"$setOnInsert": version}
        with contextlib.suppress(DuplicateKeyError):  # two upserts raced: the row exists, enough
            self.db.form_versions.update_one(key, update, upsert=True)

    @timed("create_form")
    def create_form(self, form: Record) -> None:
        row = {k: v for k, v in form.items() if k != "updated_by"}
        doc = _to_doc("forms", row)
        doc["updated_by"] = form.get("updated_by")  # internal: lets a lost version row be rebuilt
        try:
            self.db.forms.insert_one(doc)
        except DuplicateKeyError as exc:
            raise Conflict("form exists") from exc
        self._put_version(self._version_doc(form), overwrite=True)

    @timed("get_form")
    def get_form(self, form_id: str) -> Record | None:
        return self._find_one("forms", {"_id": form_id, "deleted_at": None})

    @timed("list_forms")
    def list_forms(self, after: str | None, limit: int, visible_to: str | None = None) -> list[Record]:
        flt: dict[str, Any] = {"deleted_at": None}
        if after is not None:
            flt["_id"] = {"$lt": after}
        if visible_to is not None:
            shared = [d["form_id"] for d in self.db.form_shares.find({"user_id": visible_to}, {"form_id": 1})]
            flt["$or"] = [{"owner_id": visible_to}, {"_id": {"$in": shared}}]
        return self._find("forms", flt, [("_id", DESCENDING)], limit)

    @timed("add_form_version")
    def add_form_version(self, form: Record, expected_version: int) -> bool:
        sets = {k: form[k] for k in (*_VERSION_COLS, "version", "updated_at")}
        sets["updated_by"] = form.get("updated_by")
        before = self.db.forms.find_one_and_update(
            {"_id": form["id"], "version": expected_version, "deleted_at": None}, {"$set": sets},
            projection={**_projection("forms"), "updated_by": 1}, return_document=ReturnDocument.BEFORE,
        )
        if before is None:
            return False
        self._put_version(self._version_doc(before), overwrite=False)  # heal an interrupted earlier write
        self._put_version(self._version_doc(form), overwrite=True)
        return True

    def _current_version(self, form_id: str) -> dict[str, Any] | None:
        """The version row implied by the form document (deleted forms included)."""
        doc = self.db.forms.find_one({"_id": form_id}, {**{k: 1 for k in _VERSION_COLS},
                                                        "version": 1, "updated_at": 1, "updated_by": 1})
        return None if doc is None else self._version_doc(doc)

    @timed("get_form_version")
    def get_form_version(self, form_id: str, version: int) -> Record | None:
        found = self._find_one("form_versions", {"form_id": form_id, "version": version})
        if found is not None:
            return found
        current = self._current_version(form_id)
        return current if current is not None and current["version"] == version else None

    @timed("list_form_versions")
    def list_form_versions(self, form_id: str) -> list[Record]:
        rows = self._find("form_versions", {"form_id": form_id}, [("version", ASCENDING)])
        current = self._current_version(form_id)
        if current is not None and all(r["version"] != current["version"] for r in rows):
            rows.append(current)
        return rows

    @timed("delete_form")
    def delete_form(self, form_id: str, at: str) -> bool:
        res = self.db.forms.update_one({"_id": form_id, "deleted_at": None}, {"$set": {"deleted_at": at}})
        return res.modified_count > 0

    # submissions ---------------------------------------------------------------
    @timed("insert_submission")
    def insert_submission(self, sub: Record, events: list[Record], idempotency: Record | None) -> None:
        doc = _to_doc("submissions", sub)
        if events:
            doc["pending_events"] = [_event_doc(e) for e in events]
        if idempotency is not None:
            _check_keys("idempotency", idempotency)
            doc["idem"] = {f: idempotency.get(f) for f in FIELDS["idempotency"]}
        try:
            self.db.submissions.insert_one(doc)  # the one write: submission + events + key
        except DuplicateKeyError as exc:
            if idempotency is not None:
                existing = self.get_idempotency(idempotency["scope"], idempotency["key"])
                if existing is not None:
                    raise IdempotencyReplay(existing) from exc
            raise Conflict("submission id exists") from exc
        self._bump_data_version(sub["form_id"])

    @timed("get_idempotency")
    def get_idempotency(self, scope: str, key: str) -> Record | None:
        doc = self.db.submissions.find_one({"idem.scope": scope, "idem.key": key}, {"idem": 1, "_id": 0})
        if doc is None:
            return None
        return {f: doc["idem"].get(f) for f in FIELDS["idempotency"]}

    @timed("get_submission")
    def get_submission(self, sub_id: str) -> Record | None:
        return self._find_one("submissions", {"_id": sub_id})

    @staticmethod
    def submission_filter(q: SubmissionQuery) -> dict[str, Any]:
        """The filter of a list/count query (without the cursor); public for tests."""
        flt: dict[str, Any] = {"form_id": q.form_id}
        flt["deleted_at"] = {"$gt": ""} if q.deleted else None
        if q.statuses:
            flt["status"] = {"$in": list(q.statuses)}
        created: dict[str, str] = {}
        if q.created_after:
            created["$gt"] = q.created_after
        if q.created_before:
            created["$lt"] = q.created_before
        if created:
            flt["created_at"] = created
        conds = []
        for f in q.answers:
            if not _plain_field(f.field):
                raise StoreError(f"cannot filter on answer field {f.field!r}")
            conds.append({f"answers.{f.field}": _answer_condition(f.op, f.value)})
        if conds:
            flt["$and"] = conds
        return flt

    @timed("query_submissions")
    def query_submissions(self, q: SubmissionQuery) -> list[Record]:
        flt = self.submission_filter(q)
        if q.limit <= 0:
            return []
        if q.after is not None:
            at, sub_id = q.after
            keyset = {"$or": [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": sub_id}}]}
            flt = {"$and": [flt, keyset]}
        proj = _projection("submissions")
        pick_in_python = q.fields is not None and not all(_plain_field(f) for f in q.fields)
        if q.fields is not None and not pick_in_python:
            del proj["answers"]
            proj.update({f"answers.{name}": 1 for name in q.fields})
        cursor = self.db.submissions.find(flt, proj).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        rows = [_from_doc("submissions", d) for d in cursor.limit(q.limit)]
        if q.fields is not None:
            for row in rows:  # same as SQLite: only the asked keys, absent/null ones dropped
                answers = row["answers"] or {}
                row["answers"] = {k: answers[k] for k in q.fields if answers.get(k) is not None}
        return rows

    @timed("count_submissions")
    def count_submissions(self, q: SubmissionQuery) -> int:
        return self.db.submissions.count_documents(self.submission_filter(q))

    @timed("update_submission")
    def update_submission(
        self, sub_id: str, changes: Record, revision: Record, events: list[Record], expected_rev: int
    ) -> Record | None:
        _check_keys("submissions", changes)
        _check_keys("revisions", revision)
        if "id" in changes:
            raise ValueError("a submission's id cannot change")
        push: dict[str, Any] = {"revisions": {f: revision.get(f) for f in FIELDS["revisions"]}}
        if events:
            push["pending_events"] = {"$each": [_event_doc(e) for e in events]}
        doc = self.db.submissions.find_one_and_update(  # one document write: changes + revision + events
            {"_id": sub_id, "rev": expected_rev},
            {"$set": {**changes, "rev": expected_rev + 1}, "$push": push},
            projection=_projection("submissions"), return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        self._bump_data_version(doc["form_id"])
        return _from_doc("submissions", doc)

    @timed("list_revisions")
    def list_revisions(self, sub_id: str) -> list[Record]:
        doc = self.db.submissions.find_one({"_id": sub_id}, {"revisions": 1, "_id": 0})
        revisions = (doc or {}).get("revisions") or []
        return sorted(({f: r.get(f) for f in FIELDS["revisions"]} for r in revisions), key=lambda r: r["rev"])

    @timed("purge_submissions")
    def purge_submissions(self, deleted_before: str) -> int:
        # Revisions, events and the idempotency key live in the document and go with it;
        # one with unsent events waits for the relay (the next purge takes it).
        purgeable = {"deleted_at": {"$type": "string", "$lt": deleted_before},
                     "pending_events.created_at": {"$exists": False}}
        docs = list(self.db.submissions.find(purgeable, {"_id": 1, "form_id": 1, "created_at": 1}))
        self._tombstone(docs)  # before the delete: a crash in between leaves a harmless extra tombstone
        res = self.db.submissions.delete_many({**purgeable, "_id": {"$in": [d["_id"] for d in docs]}})
        return res.deleted_count

    # per-form shares: one document per (form, user), _id "form:user" ---------------
    @timed("put_share")
    def put_share(self, share: Record) -> bool:
        doc = _to_doc("form_shares", share)
        created = {"created_at": doc.pop("created_at")}
        res = self.db.form_shares.update_one({"_id": f"{share['form_id']}:{share['user_id']}"},
                                             {"$set": doc, "$setOnInsert": created}, upsert=True)
        return res.upserted_id is not None

    @timed("get_share")
    def get_share(self, form_id: str, user_id: str) -> Record | None:
        return self._find_one("form_shares", {"_id": f"{form_id}:{user_id}"})

    @timed("list_shares")
    def list_shares(self, form_id: str) -> list[Record]:
        return self._find("form_shares", {"form_id": form_id}, [("created_at", ASCENDING), ("user_id", ASCENDING)])

    @timed("delete_share")
    def delete_share(self, form_id: str, user_id: str) -> bool:
        return self.db.form_shares.delete_one({"_id": f"{form_id}:{user_id}"}).deleted_count > 0

    # links ----------------------------------------------------------------------
    @timed("create_link")
    def create_link(self, link: Record) -> None:
        try:
            self.db.links.insert_one(_to_doc("links", link))
        except DuplicateKeyError as exc:
            raise Conflict("link exists") from exc

    @timed("get_link")
    def get_link_by_hash(self, token_hash: str) -> Record | None:
        return self._find_one("links", {"token_hash": token_hash})

    @timed("list_links")
    def list_links(self, form_id: str) -> list[Record]:
        return self._find("links", {"form_id": form_id}, [("created_at", ASCENDING)])

    @timed("revoke_link")
    def revoke_link(self, link_id: str, at: str) -> bool:
        res = self.db.links.update_one({"_id": link_id, "revoked_at": None}, {"$set": {"revoked_at": at}})
        return res.modified_count > 0

    @timed("take_link_quota")
    def take_link_quota(self, link_id: str) -> bool:
        # One conditional update: the server checks used < quota and increments together.
        res = self.db.links.update_one(
            {"_id": link_id, "$or": [{"quota": None}, {"$expr": {"$lt": ["$used", "$quota"]}}]},
            {"$inc": {"used": 1}},
        )
        return res.modified_count > 0

    # audit ----------------------------------------------------------------------
    @timed("last_audit")
    def last_audit(self) -> Record | None:
        found = self._find("audit", {}, [("_id", DESCENDING)], 1)
        return found[0] if found else None

    @timed("insert_audit")
    def insert_audit(self, entry: Record) -> bool:
        try:
            self.db.audit.insert_one(_to_doc("audit", entry))
        except DuplicateKeyError:
            return False
        return True

    @timed("list_audit")
    def list_audit(self, after_seq: int, limit: int) -> list[Record]:
        return self._find("audit", {"_id": {"$gt": after_seq}}, [("_id", ASCENDING)], limit)

    # outbox ---------------------------------------------------------------------
    @timed("add_events")
    def add_events(self, events: list[Record]) -> None:
        if not events:
            return
        docs = []
        for event in events:
            doc = _to_doc("outbox", _event_doc(event))
            doc["pending_at"] = doc["created_at"]  # internal: present only while unsent (partial index)
            docs.append(doc)
        self.db.outbox.insert_many(docs, ordered=True)

    @timed("pending_events")
    def pending_events(self, limit: int) -> list[Record]:
        """Unsent events of both homes (outbox collection and submissions), oldest first.

        A submission sorts by its oldest pending event, so the first ``limit``
        submissions hold every event among the oldest ``limit`` overall.
        """
        if limit <= 0:
            return []
        loose = self.db.outbox.find({"pending_at": {"$exists": True}}, {f: 1 for f in EVENT_FIELDS if f != "id"})
        events = [{"id": d["_id"], **{f: d.get(f) for f in EVENT_FIELDS if f != "id"}}
                  for d in loose.sort([("pending_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)]
        embedded = self.db.submissions.find(
            {"pending_events.created_at": {"$exists": True}}, {"pending_events": 1, "_id": 0}
        ).sort([("pending_events.created_at", ASCENDING)]).limit(limit)
        for doc in embedded:
            events.extend({f: e.get(f) for f in EVENT_FIELDS} for e in doc.get("pending_events") or [])
        events.sort(key=lambda e: (e["created_at"], e["id"]))
        return events[:limit]

    @timed("mark_events_sent")
    def mark_events_sent(self, event_ids: list[str], at: str) -> None:
        if not event_ids:
            return
        ids = list(event_ids)
        self.db.outbox.update_many({"_id": {"$in": ids}, "pending_at": {"$exists": True}},
                                   {"$set": {"sent_at": at}, "$unset": {"pending_at": ""}})
        # "$exists" repeats the partial index's filter so the planner may use that index.
        owners = [d["_id"] for d in self.db.submissions.find(
            {"pending_events.id": {"$exists": True, "$in": ids}}, {"_id": 1})]
        if not owners:
            return
        self.db.submissions.update_many({"_id": {"$in": owners}},
                                        {"$pull": {"pending_events": {"id": {"$in": ids}}}})
        # Tidy: drop emptied arrays so the partial index only holds documents with work left.
        self.db.submissions.update_many({"_id": {"$in": owners}, "pending_events": {"$size": 0}},
                                        {"$unset": {"pending_events": ""}})
