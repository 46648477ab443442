"""SQLite migrations: the ordered table and the runner (``PRAGMA user_version`` holds the version).

Every pending step runs in ONE ``BEGIN IMMEDIATE`` transaction together with
the re-read of the version and its bump, so of several processes starting at
once exactly one applies the steps and the others find the new version when
they get the write lock; a step that fails rolls every step back (SQLite DDL
is transactional). Statements run one by one: ``executescript`` would COMMIT
the transaction that is the lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from app.store.migrations import Migration, MigrationResult, check_table, head, pending

BACKEND = "sqlite"

# The schema of the release before numbered migrations, statement for statement
# (tests/store/fixtures/schema_v1.sql is a dump of a database that release wrote).
V1_SQL = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
    role TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS credentials (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
    name TEXT, role TEXT, scope TEXT, forms TEXT, prefix TEXT, expires_at TEXT, revoked_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS credentials_by_kind_user ON credentials (kind, user_id, created_at);
CREATE TABLE IF NOT EXISTS forms (
    id TEXT PRIMARY KEY, owner_id TEXT, version INTEGER NOT NULL, title TEXT NOT NULL, description TEXT,
    schema TEXT NOT NULL, settings TEXT NOT NULL, sensitive TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS forms_live ON forms (deleted_at, id);
CREATE INDEX IF NOT EXISTS forms_by_owner ON forms (owner_id, id);
CREATE TABLE IF NOT EXISTS form_shares (
    form_id TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL, granted_by TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (form_id, user_id)
);
CREATE INDEX IF NOT EXISTS form_shares_by_user ON form_shares (user_id, form_id);
CREATE TABLE IF NOT EXISTS form_versions (
    form_id TEXT NOT NULL, version INTEGER NOT NULL, title TEXT NOT NULL, description TEXT,
    schema TEXT NOT NULL, settings TEXT NOT NULL, sensitive TEXT NOT NULL,
    created_at TEXT NOT NULL, created_by TEXT, PRIMARY KEY (form_id, version)
);
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY, form_id TEXT NOT NULL, form_version INTEGER NOT NULL, status TEXT NOT NULL,
    answers TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}', rev INTEGER NOT NULL DEFAULT 1,
    created_by TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS submissions_by_form ON submissions (form_id, created_at, id);
CREATE INDEX IF NOT EXISTS submissions_by_form_status ON submissions (form_id, status, created_at, id);
CREATE INDEX IF NOT EXISTS submissions_deleted ON submissions (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS revisions (
    submission_id TEXT NOT NULL, rev INTEGER NOT NULL, status TEXT NOT NULL, answers TEXT NOT NULL,
    changed_by TEXT, changed_at TEXT NOT NULL, PRIMARY KEY (submission_id, rev)
);
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL, key TEXT NOT NULL, body_hash TEXT NOT NULL, status_code INTEGER NOT NULL,
    response TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS links (
    id TEXT PRIMARY KEY, form_id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, prefix TEXT,
    expires_at TEXT, quota INTEGER, used INTEGER NOT NULL DEFAULT 0, created_by TEXT,
    created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS links_by_form ON links (form_id, created_at);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT, action TEXT NOT NULL, target TEXT,
    details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL,
    key TEXT, payload TEXT NOT NULL, created_at TEXT NOT NULL, sent_at TEXT, request_id TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS form_data_versions (form_id TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS submissions_changed ON submissions (form_id, created_at) WHERE updated_at > created_at;
CREATE TABLE IF NOT EXISTS purged_submissions (id TEXT PRIMARY KEY, form_id TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS purged_by_form ON purged_submissions (form_id, created_at);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, actor TEXT NOT NULL, queue TEXT NOT NULL, state TEXT NOT NULL,
    progress REAL, note TEXT, attempts INTEGER NOT NULL DEFAULT 0, max_retries INTEGER, message TEXT,
    result TEXT, error TEXT, request_id TEXT, created_by TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, enqueued_at TEXT, started_at TEXT, finished_at TEXT, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state, created_at, id);
CREATE INDEX IF NOT EXISTS tasks_by_creator ON tasks (created_by, created_at, id);
CREATE INDEX IF NOT EXISTS tasks_by_created ON tasks (created_at, id);
CREATE INDEX IF NOT EXISTS tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY, form_id TEXT NOT NULL, url TEXT NOT NULL, secret TEXT NOT NULL, events TEXT NOT NULL,
    description TEXT, active INTEGER NOT NULL DEFAULT 1, consecutive_failures INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT, include_sensitive INTEGER NOT NULL DEFAULT 0, created_by TEXT, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, failing_since TEXT
);
CREATE INDEX IF NOT EXISTS webhooks_by_form ON webhooks (form_id, created_at);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY, endpoint_id TEXT NOT NULL, event_id TEXT NOT NULL, form_id TEXT, topic TEXT NOT NULL,
    payload TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER,
    last_error TEXT, duration_ms REAL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, delivered_at TEXT,
    next_attempt_at TEXT, request_id TEXT, claim_token TEXT, UNIQUE (event_id, endpoint_id)
);
CREATE INDEX IF NOT EXISTS deliveries_by_endpoint ON deliveries (endpoint_id, created_at, id);
CREATE INDEX IF NOT EXISTS deliveries_by_endpoint_state ON deliveries (endpoint_id, state, created_at, id);
CREATE TABLE IF NOT EXISTS task_marks (key TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ai_models (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, format TEXT NOT NULL, path TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, architecture TEXT, quantization TEXT, info TEXT, source TEXT NOT NULL,
    created_by TEXT, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ai_embeddings (
    submission_id TEXT PRIMARY KEY, form_id TEXT NOT NULL, model_sha256 TEXT NOT NULL, dim INTEGER NOT NULL,
    vector BLOB NOT NULL, text_hash TEXT, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ai_embeddings_by_form ON ai_embeddings (form_id, model_sha256, submission_id);
CREATE TABLE IF NOT EXISTS ai_benchmarks (
    id TEXT PRIMARY KEY, model_id TEXT NOT NULL, report TEXT NOT NULL, created_by TEXT, created_at TEXT NOT NULL
);
"""

# Columns that earlier releases added after their table's first version: (table, column, definition, backfill).
_LATE_COLUMNS: tuple[tuple[str, str, str, str | None], ...] = (
    ("outbox", "request_id", "TEXT", None),
    ("webhooks", "include_sensitive", "INTEGER NOT NULL DEFAULT 0", None),
    ("webhooks", "failing_since", "TEXT", None),
    # waiting deliveries of older databases are due now
    ("deliveries", "next_attempt_at", "TEXT",
     "UPDATE deliveries SET next_attempt_at = updated_at WHERE state IN ('pending', 'retrying')"),
    ("deliveries", "request_id", "TEXT", None),
    ("deliveries", "claim_token", "TEXT", None),
)


def statements(script: str) -> list[str]:
    """A script split into statements (ours: no ``;`` inside literals), for use inside a transaction."""
    return [s.strip() for s in script.split(";") if s.strip()]


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r["name"] if isinstance(r, dict) else r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _v1_initial(conn: sqlite3.Connection) -> None:
    """The pre-migration schema; on a database of an earlier release, the columns it lacks."""
    for sql in statements(V1_SQL):
        conn.execute(sql)
    for table, column, definition, backfill in _LATE_COLUMNS:
        if column not in _columns(conn, table):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            if backfill:
                conn.execute(backfill)
    conn.execute("CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at)")


def _v2_credentials_by_user(conn: sqlite3.Connection) -> None:
    """Deleting a user deletes its credentials by ``user_id``; the only index led with ``kind``.

    Login tokens add a row per login, so without it every user deletion scanned them all.
    """
    conn.execute("CREATE INDEX IF NOT EXISTS credentials_by_user ON credentials (user_id)")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema (adopts a database of the release before numbered migrations)", _v1_initial),
    Migration(2, "index credentials by user (user deletion)", _v2_credentials_by_user),
)
check_table(MIGRATIONS)


def version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row["user_version"] if isinstance(row, dict) else row[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> MigrationResult:
    """Apply the pending steps under the write lock; refuse a schema newer than ``migrations``.

    ``conn`` must be in autocommit mode (``isolation_level=None``), as the store's are.
    """
    check_table(migrations)
    found = version(conn)
    if not pending(migrations, BACKEND, found):  # the common start: already at head, no write lock taken
        return MigrationResult(BACKEND, found, found)
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = version(conn)  # another process may have migrated while we waited for the lock
        steps = pending(migrations, BACKEND, found)
        for step in steps:
            step.apply(conn)
            conn.execute(f"PRAGMA user_version = {int(step.version)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return MigrationResult(BACKEND, found, head(migrations) if steps else found, tuple(s.version for s in steps))


def status(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> tuple[int, int]:
    """(the database's version, the newest this code knows); nothing written."""
    return version(conn), head(migrations)
