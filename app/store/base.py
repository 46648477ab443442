"""The repository interface: what fms asks of a database, and nothing more.

Records are plain dicts (JSON-able) so both backends and the HTTP layer share
them without mapping code. Every method that writes more than one record
(a submission with its events and idempotency record, a patch with its
revision) is one atomic operation in each backend: that is what lets the
outbox promise that no accepted submission loses its webhook.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from app.store.migrations import MigrationResult

Record = dict[str, Any]

# What Store.export_submissions returns per row, in this order.
EXPORT_COLUMNS = ("id", "form_id", "form_version", "status", "created_at", "updated_at", "deleted_at", "created_by",
                  "answers")
SUBMISSION_STATUSES = ("draft", "submitted", "in_review", "approved", "rejected", "quarantined")
SHARE_ROLES = ("viewer", "editor", "manager")  # per-form grants, weakest first


class StoreError(Exception):
    """Base class for store failures the caller can act on."""


class Conflict(StoreError):
    """A uniqueness rule was broken (username taken, version moved on)."""


class LastAdmin(StoreError):
    """The write would leave no active administrator (nothing was written)."""


class IdempotencyReplay(StoreError):
    """The idempotency key was used before; ``record`` is the stored one."""

    def __init__(self, record: Record) -> None:
        super().__init__("idempotency key already used")
        self.record = record


@dataclass(frozen=True)
class AnswerFilter:
    """``answers.<field> <op> value`` with the value already typed from the schema."""

    field: str
    op: str  # eq ne gt gte lt lte in
    value: Any


@dataclass(frozen=True)
class SubmissionQuery:
    """A validated list query; built by the domain layer, never from raw input."""

    form_id: str
    statuses: tuple[str, ...] = ()
    answers: tuple[AnswerFilter, ...] = ()
    created_after: str | None = None
    created_before: str | None = None
    deleted: bool = False  # True lists the soft-deleted ones only
    after: tuple[str, str] | None = None  # keyset cursor (created_at, id), newest first
    limit: int = 50
    fields: tuple[str, ...] | None = None  # answer fields to return; None = all
    extra: dict[str, Any] = field(default_factory=dict)


def status_and_window_sql(q: SubmissionQuery) -> tuple[list[str], list[Any]]:
    """SQL clauses (``?`` placeholders) and parameters for ``q``'s statuses and ``created_at`` window.

    The SQLite store and the DuckDB analytics over exported rows both filter on
    these columns; one builder keeps the two answering the same rows.
    """
    clauses: list[str] = []
    params: list[Any] = []
    if q.statuses:
        clauses.append(f"status IN ({', '.join('?' * len(q.statuses))})")
        params.extend(q.statuses)
    if q.created_after:
        clauses.append("created_at > ?")
        params.append(q.created_after)
    if q.created_before:
        clauses.append("created_at < ?")
        params.append(q.created_before)
    return clauses, params


class Store(abc.ABC):
    """Both backends implement exactly this; the contract tests run on each."""

    @contextmanager
    def atomically(self) -> Iterator[None]:
        """The writes made in this block, in this thread, commit together or not at all: a change and
        its audit record (a crash between two writes kept the change and lost the record).

        SQLite runs the block as one transaction. This default, which MongoDB keeps, makes each write
        its own: multi-document transactions need a replica set, which a single host does not run."""
        yield

    # lifecycle ---------------------------------------------------------------
    @abc.abstractmethod
    def migrate(self) -> MigrationResult:
        """Apply the pending numbered migrations (:mod:`app.store.migrations`) under a lock.

        Every process calls it at start (:func:`app.store.open_store`); at head it
        only reads the version. Raises :class:`SchemaTooNew` on a database a newer
        release migrated.
        """

    @abc.abstractmethod
    def schema_status(self) -> tuple[int, int]:
        """(the database's schema version, the newest this code knows), nothing written (``fms migrate --check``)."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise if the database cannot answer."""

    @abc.abstractmethod
    def close(self) -> None: ...

    # users ---------------------------------------------------------------
    @abc.abstractmethod
    def create_user(self, user: Record) -> None:
        """Raise :class:`Conflict` when the username is taken."""

    @abc.abstractmethod
    def get_user(self, user_id: str) -> Record | None: ...

    @abc.abstractmethod
    def get_user_by_name(self, username: str) -> Record | None: ...

    @abc.abstractmethod
    def list_users(self) -> list[Record]: ...

    @abc.abstractmethod
    def update_user(self, user_id: str, changes: Record, *, keep_admin: bool = False) -> Record | None:
        """Apply ``changes``; with ``keep_admin``, raise :class:`LastAdmin` (nothing written) when the
        user was an active admin and none would be left (the check and the write are one step where
        the backend allows it, so two admins demoting each other cannot both succeed)."""

    @abc.abstractmethod
    def delete_user(self, user_id: str, *, keep_admin: bool = False) -> bool:
        """Delete the user with their credentials and form shares; ``keep_admin`` as in update_user."""

    @abc.abstractmethod
    def count_users(self) -> int: ...

    # credentials: API keys and login tokens, stored by SHA-256 -----------------
    @abc.abstractmethod
    def create_credential(self, cred: Record) -> None: ...

    @abc.abstractmethod
    def get_credential_by_hash(self, token_hash: str) -> Record | None: ...

    def get_identity(self, token_hash: str) -> tuple[Record, Record] | None:
        """The credential and its user, for authenticating one request.

        Called on every request, so a backend may answer it in one round trip.
        """
        cred = self.get_credential_by_hash(token_hash)
        if cred is None:
            return None
        user = self.get_user(cred["user_id"])
        return (cred, user) if user is not None else None

    @abc.abstractmethod
    def list_credentials(self, kind: str, user_id: str | None = None) -> list[Record]: ...

    @abc.abstractmethod
    def revoke_credential(self, cred_id: str, at: str) -> bool: ...

    # forms -----------------------------------------------------------------
    @abc.abstractmethod
    def create_form(self, form: Record) -> None:
        """Insert the form and its version 1 (``form`` carries the version fields)."""

    @abc.abstractmethod
    def get_form(self, form_id: str) -> Record | None:
        """The current version, or None when missing or deleted."""

    @abc.abstractmethod
    def list_forms(self, after: str | None, limit: int, visible_to: str | None = None) -> list[Record]:
        """Forms newest first, keyset-paginated by id; with ``visible_to`` (a user id) only the
        forms that user owns or that are shared with them."""

    @abc.abstractmethod
    def add_form_version(self, form: Record, expected_version: int) -> bool:
        """Store ``form`` as the next version; False if the version moved on."""

    @abc.abstractmethod
    def get_form_version(self, form_id: str, version: int) -> Record | None: ...

    @abc.abstractmethod
    def list_form_versions(self, form_id: str) -> list[Record]: ...

    @abc.abstractmethod
    def delete_form(self, form_id: str, at: str) -> bool: ...

    # per-form shares: (form_id, user_id) -> role in SHARE_ROLES ---------------
    @abc.abstractmethod
    def put_share(self, share: Record) -> bool:
        """Grant or change a share (``form_id, user_id, role, granted_by, created_at, updated_at``);
        True when it is new. A changed share keeps its ``created_at``."""

    @abc.abstractmethod
    def get_share(self, form_id: str, user_id: str) -> Record | None: ...

    @abc.abstractmethod
    def list_shares(self, form_id: str) -> list[Record]:
        """A form's shares, oldest first."""

    @abc.abstractmethod
    def delete_share(self, form_id: str, user_id: str) -> bool: ...

    # submissions -------------------------------------------------------------
    @abc.abstractmethod
    def insert_submission(self, sub: Record, events: list[Record], idempotency: Record | None) -> None:
        """Atomically store a submission, its outbox events and idempotency record.

        Raises :class:`IdempotencyReplay` (and writes nothing) when
        ``idempotency`` names a key already stored for its scope.
        """

    @abc.abstractmethod
    def get_idempotency(self, scope: str, key: str) -> Record | None: ...

    @abc.abstractmethod
    def get_submission(self, sub_id: str) -> Record | None:
        """Including soft-deleted ones (``deleted_at`` set)."""

    @abc.abstractmethod
    def query_submissions(self, q: SubmissionQuery) -> list[Record]: ...

    @abc.abstractmethod
    def count_submissions(self, q: SubmissionQuery) -> int: ...

    def export_submissions(self, q: SubmissionQuery) -> list[tuple[Any, ...]]:
        """One keyset page of ``q`` (newest first) as tuples in :data:`EXPORT_COLUMNS` order.

        For streamed exports of millions of rows, where building a record per
        row costs more than the export itself: ``answers`` may be the dict or
        its JSON text (a backend may skip decoding it). The default reads
        :meth:`query_submissions`; a backend overrides it when it can do better.
        """
        return [tuple(r.get(c) for c in EXPORT_COLUMNS) for r in self.query_submissions(q)]

    @abc.abstractmethod
    def update_submission(
        self, sub_id: str, changes: Record, revision: Record, events: list[Record], expected_rev: int
    ) -> Record | None:
        """Apply ``changes``, keep ``revision`` (the state before) and queue ``events``.

        Optimistic: returns None when the stored ``rev`` is not ``expected_rev``.
        """

    @abc.abstractmethod
    def list_revisions(self, sub_id: str) -> list[Record]: ...

    @abc.abstractmethod
    def purge_submissions(self, deleted_before: str) -> int:
        """Hard-delete submissions soft-deleted before the given time."""

    # public links ------------------------------------------------------------
    @abc.abstractmethod
    def create_link(self, link: Record) -> None: ...

    @abc.abstractmethod
    def get_link_by_hash(self, token_hash: str) -> Record | None: ...

    @abc.abstractmethod
    def list_links(self, form_id: str) -> list[Record]: ...

    @abc.abstractmethod
    def revoke_link(self, link_id: str, at: str) -> bool: ...

    @abc.abstractmethod
    def take_link_quota(self, link_id: str) -> bool:
        """Atomically count one use; False when the quota is spent."""

    # audit (hash chain; the chain itself is computed in app.audit) -------------
    @abc.abstractmethod
    def last_audit(self) -> Record | None: ...

    @abc.abstractmethod
    def insert_audit(self, entry: Record) -> bool:
        """Insert with ``entry['seq']``; False if that seq exists (lost a race); any other failure raises."""

    @abc.abstractmethod
    def list_audit(self, after_seq: int, limit: int) -> list[Record]: ...

    # outbox ----------------------------------------------------------------
    @abc.abstractmethod
    def add_events(self, events: list[Record]) -> None:
        """Queue events that belong to no submission write."""

    @abc.abstractmethod
    def pending_events(self, limit: int) -> list[Record]:
        """Unsent events, oldest first."""

    @abc.abstractmethod
    def mark_events_sent(self, event_ids: list[str], at: str) -> None: ...
