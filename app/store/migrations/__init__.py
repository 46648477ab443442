"""Numbered schema migrations: one ordered table per backend, applied at start and by ``fms migrate``.

Why numbered steps instead of ``CREATE TABLE IF NOT EXISTS`` sprinkled over the
store modules: an upgrade must say which schema it finds and which it leaves, a
data migration must run exactly once (not on every start), and a release must
refuse a database that a NEWER release has already moved on, instead of
writing rows the newer code would misread.

Each backend keeps its table (:mod:`.sqlite`, :mod:`.mongo`): ``MIGRATIONS =
(Migration(1, ...), Migration(2, ...))``, versions 1..N without gaps. The
database records the version it is at (SQLite ``PRAGMA user_version``, MongoDB
the ``meta`` document ``{"_id": "schema"}``); version 0 means "never
versioned": a fresh database, or one written by the release before numbered
migrations, which step 1 adopts (its statements are idempotent, so it creates
what is missing and re-creates nothing).

Several processes start at once (gunicorn workers, the workers, the relay), so
steps are applied under a lock: SQLite ``BEGIN IMMEDIATE`` around the version
check and every step (one transaction: all pending steps or none), MongoDB a
lock document with an expiry. Neither module imports Flask or Dramatiq.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Migration:
    """One step: ``apply`` moves a database from ``version - 1`` to ``version``."""

    version: int
    name: str
    apply: Callable[[Any], None]


@dataclass(frozen=True)
class MigrationResult:
    """What one ``migrate`` call found and left (``applied`` empty when nothing was pending)."""

    backend: str
    before: int
    after: int
    applied: tuple[int, ...] = ()

    def describe(self) -> str:
        if not self.applied:
            return f"{self.backend} schema at version {self.after}, nothing to apply"
        steps = ", ".join(str(v) for v in self.applied)
        return f"{self.backend} schema migrated from version {self.before} to {self.after} (applied {steps})"


class SchemaError(RuntimeError):
    """The database's schema cannot be used by this code (not a request error: no HTTP mapping)."""


class SchemaTooNew(SchemaError):
    """A newer release migrated this database; running older code on it could corrupt data."""

    def __init__(self, backend: str, found: int, known: int) -> None:
        self.backend, self.found, self.known = backend, found, known
        super().__init__(
            f"the {backend} schema is at version {found}, but this fms release knows versions up to {known}: "
            "a newer release migrated it. Deploy that release (or newer) again, or restore the backup taken "
            "before the upgrade (docs/operations.md, 'Upgrades and migrations')."
        )


class MigrationLockTimeout(SchemaError):
    """Another process held the migration lock for longer than we were willing to wait."""


class MigrationLockLost(SchemaError):
    """Our lock expired mid-run and another process took it: stop, so two runners never apply steps at once."""


def head(migrations: Sequence[Migration]) -> int:
    """The version the table ends at (0 for an empty table)."""
    return migrations[-1].version if migrations else 0


def check_table(migrations: Sequence[Migration]) -> None:
    """Versions must be 1..N in order: a gap or a repeat is a programming error, caught at import."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1..N in order, got {versions}")


def pending(migrations: Sequence[Migration], backend: str, found: int) -> list[Migration]:
    """The steps after ``found``; :class:`SchemaTooNew` when ``found`` is past the table's end."""
    known = head(migrations)
    if found > known:
        raise SchemaTooNew(backend, found, known)
    return [m for m in migrations if m.version > found]
