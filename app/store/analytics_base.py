"""What the analytics engine asks of a store: aggregates of the live rows, never the rows.

The engine (``etl/analytics.py``) reads exported days from Parquet with
DuckDB and asks the store only for what the export does not hold yet: rows
created on days that were not exported, and rows changed after their day's
export read them. Each backend answers with *grouped counts* computed in the
database (SQLite ``GROUP BY`` over ``json_each``; a MongoDB aggregation
pipeline), so the work and the memory stay in the database however many
rows match. Values come back JSON-decoded, in the same shape from both
backends; the contract tests compare them.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from app.store.base import SubmissionQuery


@dataclass(frozen=True)
class Segment:
    """Rows created in ``[start, end)`` (None: unbounded) and, if set, updated after ``updated_after``.

    A day whose export is usable becomes one segment with ``updated_after`` =
    the time that export started: only rows changed since are live. The
    days in between become plain ranges: all their rows are live.

    With ``updated_after`` set, ``end`` is set and ``updated_after >= end``
    (an export starts after its day is over), so such a segment only ever
    holds rows changed after they were written; backends may look for them
    among changed rows only (SQLite keeps a partial index of those).
    """

    start: str | None
    end: str | None
    updated_after: str | None = None


@dataclass(frozen=True)
class LiveSpec:
    query: SubmissionQuery  # filters only (statuses, answers, created range); never deleted rows
    segments: tuple[Segment, ...]  # which rows are live; together they cover all time
    fields: tuple[str, ...] = ()  # answer fields whose value counts are wanted
    split_by: str | None = None  # answer field whose value keys every group
    groups: bool = True  # False: values only (no status/minute counts, no stale ids)


@dataclass
class LiveAggregates:
    """Grouped counts of the live rows that match the query.

    ``groups``: (split value, status, created minute ``YYYY-MM-DDTHH:MM`` UTC, n).
    ``values``: (split value, field, value, n), arrays as lists, JSON nulls left out.
    ``stale_ids``: rows of exported days changed since their export (whatever their
    state or the filters now), and rows of those days purged since (the store keeps
    their ids), so the engine drops their exported copy.
    """

    groups: list[tuple[Any, str, str, int]] = field(default_factory=list)
    values: list[tuple[Any, str, Any, int]] = field(default_factory=list)
    stale_ids: list[str] = field(default_factory=list)


class AnalyticsStore(abc.ABC):
    """Mixed into both stores; ``data_version`` is bumped by every submission write."""

    @abc.abstractmethod
    def analytics_live(self, spec: LiveSpec) -> LiveAggregates: ...

    @abc.abstractmethod
    def completed_drafts(self, query: SubmissionQuery, split_by: str | None) -> list[tuple[Any, int]]:
        """(split value, n) of matching submissions that were created as drafts and are no longer drafts.

        Read from the store, not the export: only the store keeps the
        revisions that tell how a submission started.
        """

    @abc.abstractmethod
    def data_version(self, form_id: str) -> int:
        """A counter that moves on every insert or update of the form's submissions (cache key)."""

    @abc.abstractmethod
    def form_row_count(self, form_id: str) -> int:
        """Every stored submission of the form, soft-deleted ones included, counted from the form index alone.

        The API asks before each uncached summary whether it is small enough to compute
        in the API worker (``FMS_ANALYTICS_INLINE_MAX_ROWS``): an upper bound of what the
        summary reads is all that needs, and it must cost milliseconds where the summary
        costs seconds, so no filter and no read of the rows themselves.
        """
