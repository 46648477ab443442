"""SQLite backend: the embedded default (WAL, one file in the data dir).

One connection per process and thread, opened lazily so gunicorn's forked
workers never share a handle. Writes run in ``BEGIN IMMEDIATE`` so a
multi-record write (submission + events + idempotency) is one transaction.
The tables themselves are declared once, as numbered steps, in
:mod:`app.store.migrations.sqlite`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app import fastjson
from app.store.ai_sqlite import AISQLiteMixin
from app.store.analytics_sqlite import (
    DATA_VERSION_BY_SUB_SQL,
    DATA_VERSION_SQL,
    TOMBSTONE_SQL,
    AnalyticsSQLiteMixin,
)
from app.store.base import (
    EXPORT_COLUMNS,
    Conflict,
    IdempotencyReplay,
    LastAdmin,
    Record,
    SubmissionQuery,
    status_and_window_sql,
)
from app.store.group_commit import GroupCommitter
from app.store.interface import FmsStore
from app.store.migrations import Migration, MigrationResult
from app.store.migrations import sqlite as sqlite_migrations
from app.store.tasks_sqlite import TasksSQLiteMixin
from app.store.timing import timed
from app.store.webhooks_sqlite import WebhooksSQLiteMixin

# JSON columns per table, decoded on the way out.
JSON_COLUMNS = {"schema", "settings", "sensitive", "answers", "meta", "forms", "details", "payload", "response"}
_OPS = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Record:
    out: Record = {}
    for (name, *_), value in zip(cursor.description, values, strict=True):
        out[name] = fastjson.loads(value) if name in JSON_COLUMNS and isinstance(value, str) else value
    return out


def _encode(record: Record) -> Record:
    return {k: fastjson.dumps_text(v) if k in JSON_COLUMNS else v for k, v in record.items()}


class SQLiteStore(AISQLiteMixin, TasksSQLiteMixin, WebhooksSQLiteMixin, AnalyticsSQLiteMixin, FmsStore):
    backend = "sqlite"
    migrations: tuple[Migration, ...] = sqlite_migrations.MIGRATIONS  # a test may define a longer table

    def __init__(self, path: Path | str, synchronous: str = "FULL") -> None:
        self.path = str(path)
        self.synchronous = synchronous.upper()
        self._local = threading.local()
        # Leaders of every process queue on one flock, not in SQLite's sleeping busy handler (group_commit.py).
        lock = None if self.path == ":memory:" else f"{self.path}-writelock"
        self._group = GroupCommitter(self._tx, lock_path=lock)

    # connection handling -------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=10, check_same_thread=False)
            conn.row_factory = _row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        depth = getattr(self._local, "atomic", 0)
        if depth:  # inside atomically(): a savepoint of its transaction, undone alone when this write raises
            yield from self._savepoint(conn, depth)
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _savepoint(self, conn: sqlite3.Connection, depth: int) -> Iterator[sqlite3.Connection]:
        """A nested write: what it wrote is rolled back if it raises (``LastAdmin`` after its UPDATE),
        even when the caller catches that inside the block, as it would be outside one."""
        name = f"nested_{depth}"
        conn.execute(f"SAVEPOINT {name}")
        self._local.atomic = depth + 1
        try:
            yield conn
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            raise
        finally:
            self._local.atomic = depth
            conn.execute(f"RELEASE {name}")

    @contextmanager
    def atomically(self) -> Iterator[None]:
        """One transaction (BEGIN IMMEDIATE: no other writer between its reads and its writes) for every
        write of the block in this thread; an exception that leaves the block rolls all of them back.
        A nested block or write is a savepoint: one that raises is undone alone."""
        if getattr(self._local, "atomic", 0):
            with self._tx():
                yield
            return
        with self._tx():
            self._local.atomic = 1
            try:
                yield
            finally:
                self._local.atomic = 0

    def _one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Record | None:
        return self._conn().execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Record]:
        return self._conn().execute(sql, params).fetchall()

    @staticmethod
    def _insert(conn: sqlite3.Connection, table: str, record: Record) -> None:
        rec = _encode(record)
        cols = ", ".join(rec)
        marks = ", ".join(f":{k}" for k in rec)
        conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rec)

    def explain(self, sql: str, params: tuple[Any, ...] = ()) -> list[str]:
        """The query plan's detail lines (used by the index test)."""
        return [r["detail"] for r in self._all(f"EXPLAIN QUERY PLAN {sql}", params)]

    # lifecycle -----------------------------------------------------------------
    def migrate(self) -> MigrationResult:
        """The numbered migrations of :mod:`app.store.migrations.sqlite`, under ``BEGIN IMMEDIATE``."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        return sqlite_migrations.migrate(self._conn(), self.migrations)

    def schema_status(self) -> tuple[int, int]:
        return sqlite_migrations.status(self._conn(), self.migrations)

    def ping(self) -> None:
        self._conn().execute("SELECT 1").fetchone()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # users ------------------------------------------------------------------
    @timed("create_user")
    def create_user(self, user: Record) -> None:
        try:
            with self._tx() as c:
                self._insert(c, "users", user)
        except sqlite3.IntegrityError as exc:
            raise Conflict("username already taken") from exc

    @timed("get_user")
    def get_user(self, user_id: str) -> Record | None:
        return self._one("SELECT * FROM users WHERE id = ?", (user_id,))

    @timed("get_user")
    def get_user_by_name(self, username: str) -> Record | None:
        return self._one("SELECT * FROM users WHERE username = ?", (username,))

    @timed("list_users")
    def list_users(self) -> list[Record]:
        return self._all("SELECT * FROM users ORDER BY username")

    @timed("update_user")
    def update_user(self, user_id: str, changes: Record, *, keep_admin: bool = False) -> Record | None:
        if not changes:
            return self.get_user(user_id)
        sets = ", ".join(f"{k} = :{k}" for k in changes)
        try:
            with self._tx() as c:
                was_admin = keep_admin and self._is_active_admin(c, user_id)
                c.execute(f"UPDATE users SET {sets} WHERE id = :_id", {**changes, "_id": user_id})
                self._check_admin_left(c, was_admin)
        except sqlite3.IntegrityError as exc:
            raise Conflict("username already taken") from exc
        return self.get_user(user_id)

    @timed("delete_user")
    def delete_user(self, user_id: str, *, keep_admin: bool = False) -> bool:
        with self._tx() as c:
            was_admin = keep_admin and self._is_active_admin(c, user_id)
            c.execute("DELETE FROM credentials WHERE user_id = ?", (user_id,))
            c.execute("DELETE FROM form_shares WHERE user_id = ?", (user_id,))
            deleted = c.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount > 0
            self._check_admin_left(c, was_admin)
            return deleted

    @staticmethod
    def _is_active_admin(c: sqlite3.Connection, user_id: str) -> bool:
        return c.execute("SELECT 1 FROM users WHERE id = ? AND role = 'admin' AND active = 1",
                         (user_id,)).fetchone() is not None

    @staticmethod
    def _check_admin_left(c: sqlite3.Connection, was_admin: bool) -> None:
        """Inside the write's transaction: raising rolls the write back."""
        if was_admin and c.execute("SELECT 1 FROM users WHERE role = 'admin' AND active = 1").fetchone() is None:
            raise LastAdmin("this would leave no active administrator")

    @timed("count_users")
    def count_users(self) -> int:
        return self._one("SELECT COUNT(*) AS n FROM users")["n"]  # type: ignore[index]

    # credentials --------------------------------------------------------------
    @timed("create_credential")
    def create_credential(self, cred: Record) -> None:
        with self._tx() as c:
            self._insert(c, "credentials", cred)

    @timed("get_credential")
    def get_credential_by_hash(self, token_hash: str) -> Record | None:
        return self._one("SELECT * FROM credentials WHERE token_hash = ?", (token_hash,))

    _IDENTITY_SQL = (
        "SELECT c.id AS c_id, c.scope, c.forms, c.kind, c.expires_at, c.revoked_at, "
        "u.id AS u_id, u.username, u.role, u.active "
        "FROM credentials c JOIN users u ON u.id = c.user_id WHERE c.token_hash = ?"
    )

    @timed("get_identity")
    def get_identity(self, token_hash: str) -> tuple[Record, Record] | None:
        row = self._one(self._IDENTITY_SQL, (token_hash,))
        if row is None:
            return None
        cred = {"id": row["c_id"], "user_id": row["u_id"], "scope": row["scope"], "forms": row["forms"],
                "kind": row["kind"], "expires_at": row["expires_at"], "revoked_at": row["revoked_at"]}
        user = {"id": row["u_id"], "username": row["username"], "role": row["role"], "active": row["active"]}
        return cred, user

    @timed("list_credentials")
    def list_credentials(self, kind: str, user_id: str | None = None) -> list[Record]:
        if user_id is None:
            return self._all("SELECT * FROM credentials WHERE kind = ? ORDER BY created_at", (kind,))
        return self._all(
            "SELECT * FROM credentials WHERE kind = ? AND user_id = ? ORDER BY created_at", (kind, user_id)
        )

    @timed("revoke_credential")
    def revoke_credential(self, cred_id: str, at: str) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE credentials SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, cred_id)
            )
            return cur.rowcount > 0

    # forms --------------------------------------------------------------------
    _VERSION_COLS = ("title", "description", "schema", "settings", "sensitive")

    def _version_row(self, form: Record) -> Record:
        row = {k: form[k] for k in self._VERSION_COLS}
        return {**row, "form_id": form["id"], "version": form["version"],
                "created_at": form["updated_at"], "created_by": form.get("updated_by")}

    @timed("create_form")
    def create_form(self, form: Record) -> None:
        row = {k: v for k, v in form.items() if k != "updated_by"}
        with self._tx() as c:
            self._insert(c, "forms", row)
            self._insert(c, "form_versions", self._version_row(form))

    @timed("get_form")
    def get_form(self, form_id: str) -> Record | None:
        return self._one("SELECT * FROM forms WHERE id = ? AND deleted_at IS NULL", (form_id,))

    @timed("list_forms")
    def list_forms(self, after: str | None, limit: int, visible_to: str | None = None) -> list[Record]:
        where, params = ["deleted_at IS NULL"], {"after": after, "limit": limit, "user": visible_to}
        if after is not None:
            where.append("id < :after")
        if visible_to is not None:
            where.append("id IN (SELECT id FROM forms WHERE owner_id = :user"
                         " UNION SELECT form_id FROM form_shares WHERE user_id = :user)")
        return self._all(f"SELECT * FROM forms WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT :limit", params)

    @timed("add_form_version")
    def add_form_version(self, form: Record, expected_version: int) -> bool:
        sets = {k: form[k] for k in (*self._VERSION_COLS, "version", "updated_at")}
        assign = ", ".join(f"{k} = :{k}" for k in sets)
        params = {**_encode(sets), "_id": form["id"], "_expected": expected_version}
        with self._tx() as c:
            cur = c.execute(
                f"UPDATE forms SET {assign} WHERE id = :_id AND version = :_expected AND deleted_at IS NULL",
                params,
            )
            if cur.rowcount == 0:
                return False
            self._insert(c, "form_versions", self._version_row(form))
        return True

    @timed("get_form_version")
    def get_form_version(self, form_id: str, version: int) -> Record | None:
        return self._one("SELECT * FROM form_versions WHERE form_id = ? AND version = ?", (form_id, version))

    @timed("list_form_versions")
    def list_form_versions(self, form_id: str) -> list[Record]:
        return self._all("SELECT * FROM form_versions WHERE form_id = ? ORDER BY version", (form_id,))

    @timed("delete_form")
    def delete_form(self, form_id: str, at: str) -> bool:
        with self._tx() as c:
            cur = c.execute("UPDATE forms SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", (at, form_id))
            return cur.rowcount > 0

    # per-form shares ----------------------------------------------------------
    @timed("put_share")
    def put_share(self, share: Record) -> bool:
        with self._tx() as c:
            existed = c.execute("SELECT 1 FROM form_shares WHERE form_id = ? AND user_id = ?",
                                (share["form_id"], share["user_id"])).fetchone() is not None
            c.execute(
                "INSERT INTO form_shares (form_id, user_id, role, granted_by, created_at, updated_at)"
                " VALUES (:form_id, :user_id, :role, :granted_by, :created_at, :updated_at)"
                " ON CONFLICT (form_id, user_id) DO UPDATE SET role = excluded.role,"
                " granted_by = excluded.granted_by, updated_at = excluded.updated_at", share)
        return not existed

    @timed("get_share")
    def get_share(self, form_id: str, user_id: str) -> Record | None:
        return self._one("SELECT * FROM form_shares WHERE form_id = ? AND user_id = ?", (form_id, user_id))

    @timed("list_shares")
    def list_shares(self, form_id: str) -> list[Record]:
        return self._all("SELECT * FROM form_shares WHERE form_id = ? ORDER BY created_at, user_id", (form_id,))

    @timed("delete_share")
    def delete_share(self, form_id: str, user_id: str) -> bool:
        with self._tx() as c:
            return c.execute("DELETE FROM form_shares WHERE form_id = ? AND user_id = ?",
                             (form_id, user_id)).rowcount > 0

    # submissions ------------------------------------------------------------
    @timed("insert_submission")
    def insert_submission(self, sub: Record, events: list[Record], idempotency: Record | None) -> None:
        def write(c: sqlite3.Connection) -> None:
            if idempotency is not None:
                existing = c.execute(
                    "SELECT * FROM idempotency WHERE scope = ? AND key = ?",
                    (idempotency["scope"], idempotency["key"]),
                ).fetchone()
                if existing is not None:
                    raise IdempotencyReplay(existing)
                self._insert(c, "idempotency", idempotency)
            self._insert(c, "submissions", sub)
            for event in events:
                self._insert(c, "outbox", event)
            c.execute(DATA_VERSION_SQL, (sub["form_id"],))

        if getattr(self._local, "atomic", 0):  # part of the caller's transaction, not of a group's
            with self._tx() as c:
                write(c)
            return
        self._group.run(write)

    @timed("get_idempotency")
    def get_idempotency(self, scope: str, key: str) -> Record | None:
        return self._one("SELECT * FROM idempotency WHERE scope = ? AND key = ?", (scope, key))

    @timed("get_submission")
    def get_submission(self, sub_id: str) -> Record | None:
        return self._one("SELECT * FROM submissions WHERE id = ?", (sub_id,))

    @staticmethod
    def submission_where(q: SubmissionQuery) -> tuple[str, list[Any]]:
        """The WHERE clause for a query; public so the index test can EXPLAIN it."""
        clauses, params = ["form_id = ?"], [q.form_id]
        clauses.append("deleted_at IS NOT NULL" if q.deleted else "deleted_at IS NULL")
        window, window_params = status_and_window_sql(q)
        clauses.extend(window)
        params.extend(window_params)
        for f in q.answers:
            path = "$." + json.dumps(f.field)
            if f.op == "in":
                clauses.append(f"json_extract(answers, ?) IN ({', '.join('?' * len(f.value))})")
                params.extend([path, *f.value])
            else:
                clauses.append(f"json_extract(answers, ?) {_OPS[f.op]} ?")
                params.extend([path, f.value])
        return " AND ".join(clauses), params

    def submission_list_sql(self, q: SubmissionQuery) -> tuple[str, list[Any]]:
        where, params = self.submission_where(q)
        if q.after is not None:
            where += " AND (created_at, id) < (?, ?)"
            params.extend(q.after)
        cols = "id, form_id, form_version, status, created_by, created_at, updated_at, deleted_at, rev, meta"
        if q.fields is None:
            cols += ", answers"
        else:
            picks = ", ".join("?, answers -> ?" for _ in q.fields)
            cols += f", json_object({picks}) AS answers" if q.fields else ", '{}' AS answers"
            extra: list[Any] = []
            for name in q.fields:
                extra.extend([name, "$." + json.dumps(name)])
            params = extra + params
        sql = f"SELECT {cols} FROM submissions WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        return sql, [*params, q.limit]

    @timed("query_submissions")
    def query_submissions(self, q: SubmissionQuery) -> list[Record]:
        sql, params = self.submission_list_sql(q)
        rows = self._all(sql, tuple(params))
        if q.fields:
            for row in rows:  # json_object keeps absent fields as null; drop them
                row["answers"] = {k: v for k, v in row["answers"].items() if v is not None}
        return rows

    @timed("export_submissions")
    def export_submissions(self, q: SubmissionQuery) -> list[tuple[Any, ...]]:
        """Plain tuples, ``answers`` left as JSON text: no record or decode per row (see the base class)."""
        where, params = self.submission_where(q)
        if q.after is not None:
            where += " AND (created_at, id) < (?, ?)"
            params.extend(q.after)
        cur = self._conn().cursor()
        cur.row_factory = None
        sql = (f"SELECT {', '.join(EXPORT_COLUMNS)} FROM submissions WHERE {where} "
               "ORDER BY created_at DESC, id DESC LIMIT ?")
        return cur.execute(sql, (*params, q.limit)).fetchall()

    @timed("count_submissions")
    def count_submissions(self, q: SubmissionQuery) -> int:
        where, params = self.submission_where(q)
        return self._one(f"SELECT COUNT(*) AS n FROM submissions WHERE {where}", tuple(params))["n"]  # type: ignore[index]

    @timed("update_submission")
    def update_submission(
        self, sub_id: str, changes: Record, revision: Record, events: list[Record], expected_rev: int
    ) -> Record | None:
        changes = {**changes, "rev": expected_rev + 1}
        enc = _encode(changes)
        assign = ", ".join(f"{k} = :{k}" for k in enc)
        with self._tx() as c:
            cur = c.execute(
                f"UPDATE submissions SET {assign} WHERE id = :_id AND rev = :_rev",
                {**enc, "_id": sub_id, "_rev": expected_rev},
            )
            if cur.rowcount == 0:
                return None
            c.execute(DATA_VERSION_BY_SUB_SQL, (sub_id,))
            self._insert(c, "revisions", revision)
            for event in events:
                self._insert(c, "outbox", event)
        return self.get_submission(sub_id)

    @timed("list_revisions")
    def list_revisions(self, sub_id: str) -> list[Record]:
        return self._all("SELECT * FROM revisions WHERE submission_id = ? ORDER BY rev", (sub_id,))

    @timed("purge_submissions")
    def purge_submissions(self, deleted_before: str) -> int:
        with self._tx() as c:
            ids = [r["id"] for r in c.execute(
                "SELECT id FROM submissions WHERE deleted_at IS NOT NULL AND deleted_at < ?", (deleted_before,)
            ).fetchall()]
            for chunk in range(0, len(ids), 500):
                part = ids[chunk:chunk + 500]
                marks = ", ".join("?" * len(part))
                c.execute(f"DELETE FROM revisions WHERE submission_id IN ({marks})", part)
                c.execute(TOMBSTONE_SQL.format(marks=marks), part)  # exported copies must not come back
                c.execute(f"DELETE FROM submissions WHERE id IN ({marks})", part)
        return len(ids)

    # links ----------------------------------------------------------------------
    @timed("create_link")
    def create_link(self, link: Record) -> None:
        with self._tx() as c:
            self._insert(c, "links", link)

    @timed("get_link")
    def get_link_by_hash(self, token_hash: str) -> Record | None:
        return self._one("SELECT * FROM links WHERE token_hash = ?", (token_hash,))

    @timed("list_links")
    def list_links(self, form_id: str) -> list[Record]:
        return self._all("SELECT * FROM links WHERE form_id = ? ORDER BY created_at", (form_id,))

    @timed("revoke_link")
    def revoke_link(self, link_id: str, at: str) -> bool:
        with self._tx() as c:
            cur = c.execute("UPDATE links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, link_id))
            return cur.rowcount > 0

    @timed("take_link_quota")
    def take_link_quota(self, link_id: str) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE links SET used = used + 1 WHERE id = ? AND (quota IS NULL OR used < quota)", (link_id,)
            )
            return cur.rowcount > 0

    # audit ----------------------------------------------------------------------
    @timed("last_audit")
    def last_audit(self) -> Record | None:
        return self._one("SELECT * FROM audit ORDER BY seq DESC LIMIT 1")

    @timed("insert_audit")
    def insert_audit(self, entry: Record) -> bool:
        try:
            with self._tx() as c:
                self._insert(c, "audit", entry)
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorname != "SQLITE_CONSTRAINT_PRIMARYKEY":  # not a lost race for the seq: a failure
                raise
            return False
        return True

    @timed("list_audit")
    def list_audit(self, after_seq: int, limit: int) -> list[Record]:
        return self._all("SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit))

    # outbox ---------------------------------------------------------------------
    @timed("add_events")
    def add_events(self, events: list[Record]) -> None:
        with self._tx() as c:
            for event in events:
                self._insert(c, "outbox", event)

    @timed("pending_events")
    def pending_events(self, limit: int) -> list[Record]:
        return self._all(
            "SELECT id, topic, key, payload, created_at, request_id FROM outbox WHERE sent_at IS NULL"
            " ORDER BY seq LIMIT ?",
            (limit,),
        )

    @timed("mark_events_sent")
    def mark_events_sent(self, event_ids: list[str], at: str) -> None:
        with self._tx() as c:
            c.executemany("UPDATE outbox SET sent_at = ? WHERE id = ?", [(at, i) for i in event_ids])
