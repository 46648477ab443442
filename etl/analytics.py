"""Form analytics: DuckDB over the exported Parquet plus the live store, so every figure is current.

The daily export (``etl/export.py``) leaves one Parquet file per form and
UTC day, and a marker per day saying when that day's export started and
whether sensitive values were kept. A summary reads:

* the exported days from Parquet with DuckDB, minus the rows changed (or
  purged) since their day's export: their exported copy is stale;
* everything else from the store as *grouped counts* (``AnalyticsStore``):
  rows of days not exported (today, always) and the changed rows. The store
  aggregates in the database; only counts come back.

Both parts become one table of ``(split, field, value, n)`` counts inside
DuckDB and every statistic is computed there, exactly (quantiles over the
expanded counts, not estimates), so the same data gives the same numbers
whichever part a row came from. An unfiltered summary does not even parse
the exported answers: each file's value counts are rolled up once (by the
export, or on first use) under ``<export_dir>/analytics/``.

Redacted exports: a sensitive field the caller may see is counted from the
store for all rows (the file holds ``[redacted]``); filtering or splitting
on one reads the redacted days from the store. An unreadable file means
counting from the store alone, never an error.

Fields are summarised by their schema type (see :func:`field_kind`). The
JSON shape is the issue 8 contract; :func:`summary_csv` flattens it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from app.store import Record, SubmissionQuery
from app.store.analytics_base import AnalyticsStore, LiveAggregates, LiveSpec, Segment
from app.store.base import SUBMISSION_STATUSES, status_and_window_sql
from etl.analytics_spec import (  # noqa: F401 - re-exported: the argument checks live there, without DuckDB
    INTERVALS,
    EngineLimits,
    _json_type,
    field_kind,
    field_kinds,
    known_timezone,
    splittable,
)
from etl.csvsafe import SafeWriter

log = logging.getLogger(__name__)
SPLIT_GROUPS = 10  # split_by breaks a summary down by this many top options
TOP_VALUES = 10
SAMPLES = 50
HISTOGRAM_BINS = 10
STATUS_FIELD = "\x00status"  # pseudo-field carrying the status through rollups; no schema name has a NUL
ROLLUP_DIR = "analytics"  # <export_dir>/analytics/form_id=<id>/date=<day>/values-*.parquet
# One exported row as (field, JSON value) pairs, the status first as a pseudo-field.
_UNPIVOT = ("SELECT unnest(?::VARCHAR[]) AS field, "
            "unnest(list_prepend(to_json(status), json_extract(answers, ?::VARCHAR[]))) AS j")
_NUMERIC_JSON = "('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT')"


# --- schema ---------------------------------------------------------------------
def _path(name: str) -> str:
    return "$." + json.dumps(name)


def _options(prop: Record, kind: str) -> list[Any] | None:
    if kind == "enum":
        return list(prop.get("enum") or [])
    if kind == "boolean":
        return [True, False]
    if kind == "array":
        items = prop.get("items")
        return list(items["enum"]) if isinstance(items, dict) and "enum" in items else None
    return None


def _key(value: Any) -> str:
    """Type-strict identity of a JSON value (True is not 1, 1 is 1.0)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return json.dumps(float(value))
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def split_key(kind: str | None, value: Any) -> str | None:
    """The split value as DuckDB's ``json_extract_string`` gives it, whichever backend it came from."""
    if value is None:
        return None
    if kind == "boolean":
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- what is exported -------------------------------------------------------------
def _day_start(day: date) -> str:
    return f"{day.isoformat()}T00:00:00.000000Z"


@dataclass(frozen=True)
class ExportedDay:
    day: date
    since: str  # rows updated after this may differ from the file
    parquet: Path | None  # None: the form had no submissions that day
    redacted: bool = True  # sensitive fields hold "[redacted]" (the default export; markers say otherwise)


_MARKERS: dict[str, tuple[int, tuple[str, bool] | None]] = {}  # marker -> (mtime_ns, (since, redacted) or None)


def _marker_since(mark: Path) -> tuple[str, bool] | None:
    """When the day's export started, if it is usable; cached by the marker's mtime (they are rewritten on re-run)."""
    try:
        stat = mark.stat()
        cached = _MARKERS.get(str(mark))
        if cached is not None and cached[0] == stat.st_mtime_ns:
            return cached[1]
        day = date.fromisoformat(mark.name)
        info = json.loads(mark.read_text() or "{}")
    except (ValueError, OSError):
        return None
    end = _day_start(day + timedelta(days=1))
    info = info if isinstance(info, dict) else {}
    since = str(info.get("started_at") or end)
    finished = datetime.fromtimestamp(stat.st_mtime, UTC)
    usable = ((since, not info.get("include_sensitive")) if since >= end
              and finished >= datetime.fromisoformat(end.replace("Z", "+00:00")) else None)
    if len(_MARKERS) > 100_000:
        _MARKERS.clear()
    _MARKERS[str(mark)] = (stat.st_mtime_ns, usable)
    return usable


def exported_days(export_dir: Path | None, form_id: str) -> list[ExportedDay]:
    """Days whose export is complete and usable, from the markers ``export_day`` writes.

    A day counts only if its export started after the day was over (an early
    run of today's export is not complete). The marker's ``started_at`` is
    the export's read time; older markers without it count from the day's end.
    """
    if export_dir is None:
        return []
    done = export_dir / ".done"
    if not done.is_dir():
        return []
    form_dir = export_dir / "parquet" / f"form_id={form_id}"
    files = {p.name.removeprefix("date="): p / "submissions.parquet"
             for p in (form_dir.iterdir() if form_dir.is_dir() else ()) if p.name.startswith("date=")}
    days = []
    for mark in sorted(done.iterdir()):
        usable = _marker_since(mark)
        if usable is None:
            continue
        parquet = files.get(mark.name)
        days.append(ExportedDay(date.fromisoformat(mark.name), usable[0],
                                parquet if parquet is not None and parquet.is_file() else None, usable[1]))
    return days


def segments(days: Iterable[ExportedDay]) -> tuple[Segment, ...]:
    """The live part: every created_at range not exported, and the exported days' changed rows."""
    out: list[Segment] = []
    cursor: str | None = None
    for d in sorted(days, key=lambda d: d.day):
        start, end = _day_start(d.day), _day_start(d.day + timedelta(days=1))
        if cursor != start:
            out.append(Segment(cursor, start))
        out.append(Segment(start, end, d.since))
        cursor = end
    out.append(Segment(cursor, None))
    return tuple(out)


# --- the engine ---------------------------------------------------------------------
@dataclass(frozen=True)
class SummaryRequest:
    form: Record
    query: SubmissionQuery
    split_by: str | None = None
    hide: frozenset[str] = frozenset()  # sensitive fields the caller may not see: counts only


def _connect(limits: EngineLimits | None = None) -> duckdb.DuckDBPyConnection:
    limits = limits or EngineLimits()
    config: dict[str, Any] = {"threads": max(1, min(limits.threads, os.cpu_count() or 1)),
                              "memory_limit": limits.memory_limit}
    if limits.temp_dir is not None:
        limits.temp_dir.mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(limits.temp_dir)
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    return con


def _filter_sql(q: SubmissionQuery) -> tuple[str, list[Any]]:
    """The list filter over exported rows, with the SQLite backend's semantics (NULL never matches)."""
    window, params = status_and_window_sql(q)
    clauses = ["TRUE", *window]
    ops = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    for f in q.answers:
        sample = f.value[0] if f.op == "in" else f.value
        if isinstance(sample, bool):
            expr = "TRY_CAST(json_extract(answers, ?) AS BOOLEAN)"
        elif isinstance(sample, int | float):
            expr = (f"(CASE WHEN json_type(json_extract(answers, ?)) IN {_NUMERIC_JSON} "
                    "THEN json_extract(answers, ?)::DOUBLE END)")
            params.append(_path(f.field))
        else:
            expr = "json_extract_string(answers, ?)"
        params.append(_path(f.field))
        if f.op == "in":
            clauses.append(f"{expr} IN ({', '.join('?' * len(f.value))})")
            params.extend(f.value)
        else:
            clauses.append(f"{expr} {ops[f.op]} ?")
            params.append(f.value)
    return " AND ".join(clauses), params


def _register(con: duckdb.DuckDBPyConnection, name: str, columns: tuple[str, ...],
              rows: list[tuple[Any, ...]]) -> None:
    """The store's grouped counts as a DuckDB table (``n`` is the count; every other column text)."""
    con.register(name, pa.table({c: pa.array([r[i] for r in rows], pa.int64() if c == "n" else pa.string())
                                 for i, c in enumerate(columns)}))


def _rollup(con: duckdb.DuckDBPyConnection, export_dir: Path, form_id: str, fields: tuple[str, ...], day: date,
            src: Path) -> Path:
    """The value counts of one exported file (``field, j, n``), written beside the export on first use.

    Named by the file's mtime and size and the form's field names, so a
    re-export or a new schema makes a new one (the old one is removed).
    """
    stat = src.stat()
    tag = hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:12]
    folder = export_dir / ROLLUP_DIR / f"form_id={form_id}" / f"date={day.isoformat()}"
    dst = folder / f"values-{stat.st_mtime_ns}-{stat.st_size}-{tag}.parquet"
    if dst.is_file():
        return dst
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("values-*.parquet"):
        old.unlink(missing_ok=True)
    tmp = folder / f".{dst.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    target = str(tmp).replace("'", "''")
    con.execute(
        f"COPY (SELECT field, j::VARCHAR AS j, count(*)::BIGINT AS n FROM ({_UNPIVOT} FROM read_parquet(?)) "
        f"WHERE j IS NOT NULL AND json_type(j) != 'NULL' GROUP BY ALL) TO '{target}' (FORMAT parquet)",
        [[STATUS_FIELD, *fields], [_path(n) for n in fields], str(src)])
    os.replace(tmp, dst)
    return dst


def build_rollup(export_dir: Path, form: Record, day: date) -> Path | None:
    """Roll up a form's freshly exported day (the daily export calls this, so no summary waits for it)."""
    src = export_dir / "parquet" / f"form_id={form['id']}" / f"date={day.isoformat()}" / "submissions.parquet"
    if not src.is_file():
        return None
    con = _connect()
    try:
        return _rollup(con, export_dir, form["id"], tuple(field_kinds(form["schema"])), day, src)
    finally:
        con.close()


class _Run:
    """One computation: a DuckDB connection holding the merged tables of one request."""

    def __init__(self, store: AnalyticsStore, export_dir: Path | None, form: Record, query: SubmissionQuery,
                 split_by: str | None, fields: tuple[str, ...], need: tuple[frozenset[str], frozenset[str]],
                 limits: EngineLimits | None = None) -> None:
        """``need``: (sensitive fields filtered or split on, sensitive fields the caller sees).

        A redacted file cannot answer for either. Filtering or splitting on one
        drops the redacted days (their rows come from the store); a visible one
        is read for all rows from the store while the files still serve the rest.
        """
        self.con = _connect(limits)
        self.kinds = field_kinds(form["schema"])
        filtered, visible = need
        days = exported_days(export_dir, form["id"])
        if filtered:
            days = [d for d in days if not (d.redacted and d.parquet is not None)]
        redacted = any(d.redacted and d.parquet is not None for d in days)
        self.whole_live = tuple(f for f in fields if f in visible) if redacted else ()
        self.part_fields = tuple(f for f in fields if f not in self.whole_live)
        self.files = [str(d.parquet) for d in days if d.parquet is not None]
        self.days = [d for d in days if d.parquet is not None]
        self.export_dir, self.form_id, self.all_fields = export_dir, form["id"], tuple(self.kinds)
        self.live: LiveAggregates = store.analytics_live(LiveSpec(query, segments(days), self.part_fields, split_by))
        if self.whole_live:
            every_row = store.analytics_live(LiveSpec(query, (Segment(None, None),), self.whole_live, split_by,
                                                      groups=False))
            self.live.values = [*self.live.values, *every_row.values]
        where, params = _filter_sql(query)
        split_sql, split_params = ("json_extract_string(answers, ?)", [_path(split_by)]) if split_by else ("NULL", [])
        _register(self.con, "stale", ("id",), [(i,) for i in self.live.stale_ids])
        if self.files:
            self.cte = (f"WITH exported AS (SELECT id, status, created_at, answers, {split_sql} AS sv "
                        f"FROM read_parquet(?) WHERE id NOT IN (SELECT id FROM stale) AND {where})")
            self.cte_params: list[Any] = [*split_params, self.files, *params]
        else:
            self.cte = ("WITH exported AS (SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS status, "
                        "NULL::VARCHAR AS created_at, NULL::VARCHAR AS answers, NULL::VARCHAR AS sv WHERE FALSE)")
            self.cte_params = []
        self.split_kind = self.kinds.get(split_by) if split_by else None

    def rollable(self, query: SubmissionQuery, split_by: str | None) -> bool:
        """Per-file rollups answer summaries of every row: no filter, no split."""
        return (self.export_dir is not None and not split_by and not query.statuses and not query.answers
                and not query.created_after and not query.created_before)

    def groups_table(self) -> None:
        """``statuses(sv, status, n)``: exported and live counts merged."""
        _register(self.con, "live_groups", ("sv", "status", "n"),
                  [(split_key(self.split_kind, s), st, n) for s, st, _, n in self.live.groups])
        self.con.execute(
            f"CREATE TEMP TABLE statuses AS {self.cte} SELECT sv, status, sum(n)::BIGINT AS n FROM ("
            "SELECT sv, status, count(*) AS n FROM exported GROUP BY ALL "
            "UNION ALL SELECT sv, status, n FROM live_groups) GROUP BY ALL", self.cte_params)

    def values_table(self) -> None:
        """``vals(sv, field, j, n)``: how often each JSON value occurs per field, exported + live."""
        fields = self.part_fields
        _register(self.con, "live_values", ("sv", "field", "j", "n"),
                  [(split_key(self.split_kind, s), f, json.dumps(v, ensure_ascii=False), n)
                   for s, f, v, n in self.live.values])
        names = list(fields) or ["_"]
        self.con.execute(
            f"CREATE TEMP TABLE vals AS {self.cte} SELECT sv, field, j, sum(n)::BIGINT AS n FROM ("
            " SELECT sv, field, j, count(*) AS n FROM ("
            "  SELECT sv, unnest(?::VARCHAR[]) AS field, unnest(json_extract(answers, ?::VARCHAR[])) AS j"
            "  FROM exported) WHERE j IS NOT NULL AND json_type(j) != 'NULL' GROUP BY ALL"
            " UNION ALL SELECT sv, field, json_extract(j, '$') AS j, n FROM live_values"
            ") GROUP BY ALL", [*self.cte_params, names, [_path(n) for n in names]])

    def merge_rolled_up(self) -> None:
        """``vals`` and ``statuses`` for an unfiltered, unsplit summary from per-file rollups.

        An exported file never changes once written, so its value counts are
        computed once (see :meth:`_rollup`) and every later summary adds up
        those small tables instead of parsing every answer again. The stale
        rows' exported copies are subtracted (read from the files by id) and
        the live counts added.
        """
        rollups = [self._rollup(d) for d in self.days]
        live = [(None, f, json.dumps(v, ensure_ascii=False), n) for _, f, v, n in self.live.values]
        live += [(None, STATUS_FIELD, json.dumps(st), n) for _, st, _, n in self.live.groups]
        _register(self.con, "live_values", ("sv", "field", "j", "n"), live)
        wanted = [STATUS_FIELD, *self.part_fields]
        # Values stay JSON text here: the rollups hold DuckDB's own canonical JSON, so they are
        # grouped as they are (no parse); the live ones are normalised to the same text first.
        parts = ["SELECT field, json_extract(j, '$')::VARCHAR AS j, n FROM live_values"]
        params: list[Any] = []
        if rollups:
            parts.append("SELECT field, j, n FROM read_parquet(?) WHERE field IN (SELECT unnest(?::VARCHAR[]))")
            params += [rollups, wanted]
        if self.files and self.live.stale_ids:
            parts.append(f"SELECT field, j::VARCHAR AS j, -count(*) AS n FROM ({_UNPIVOT} FROM read_parquet(?) "
                         "WHERE id IN (SELECT id FROM stale)) WHERE j IS NOT NULL AND json_type(j) != 'NULL' "
                         "GROUP BY ALL")
            params += [[STATUS_FIELD, *self.part_fields], [_path(n) for n in self.part_fields], self.files]
        self.con.execute(f"CREATE TEMP TABLE vals AS SELECT NULL::VARCHAR AS sv, field, j, sum(n)::BIGINT AS n "
                         f"FROM ({' UNION ALL '.join(parts)}) GROUP BY ALL HAVING sum(n) != 0", params)
        self.con.execute("CREATE TEMP TABLE statuses AS SELECT sv, j->>'$' AS status, n FROM vals WHERE field = ?",
                         [STATUS_FIELD])
        self.con.execute("DELETE FROM vals WHERE field = ?", [STATUS_FIELD])

    def _rollup(self, day: ExportedDay) -> str:
        assert day.parquet is not None and self.export_dir is not None
        return str(_rollup(self.con, self.export_dir, self.form_id, self.all_fields, day.day, day.parquet))

    def timeline(self, interval: str, tz: str) -> list[tuple[str, str, int]]:
        _register(self.con, "live_minutes", ("minute", "status", "n"),
                  [(m, st, n) for _, st, m, n in self.live.groups])
        rows = self.con.execute(
            f"{self.cte}, t AS (SELECT CAST(created_at AS TIMESTAMPTZ) AS ts, status, 1 AS n FROM exported "
            "UNION ALL SELECT CAST(minute || ':00Z' AS TIMESTAMPTZ), status, n FROM live_minutes) "
            "SELECT strftime(date_trunc(?, timezone(?, ts)), '%Y-%m-%d') AS start, status, sum(n)::BIGINT "
            "FROM t GROUP BY ALL ORDER BY start, status", [*self.cte_params, interval, tz]).fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]


# --- per-field statistics over the merged ``vals`` table ------------------------------
# Each statistic is one query for every group at once: ``g`` is the split value with
# ``split_by``, or the constant ``'*'`` for the whole form. Groups without a value for the
# field get the empty figures.
Groups = list[str | None]


def _g(by_split: bool) -> str:
    return "sv" if by_split else "'*'"


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return con.execute(sql, params).fetchall()


def _bucket(rows: Iterable[tuple[Any, ...]]) -> dict[Any, list[tuple[Any, ...]]]:
    out: dict[Any, list[tuple[Any, ...]]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(row[1:])
    return out


def _choice_stats(values: list[tuple[Any, int]], kind: str, prop: Record) -> Record:
    options = _options(prop, kind)
    count = sum(n for _, n in values)
    tally: dict[str, int] = {}
    unexpected = 0
    for value, n in values:
        if kind == "array" and not isinstance(value, list):
            unexpected += n
            continue
        items = value if kind == "array" else [value]
        for item in {_key(i): i for i in items}:
            tally[item] = tally.get(item, 0) + n
    known = [_key(o) for o in options] if options is not None else \
        sorted(tally, key=lambda k: (-tally[k], k))[:TOP_VALUES * 2]
    unexpected += sum(n for k, n in tally.items() if k not in known)
    return {"count": count, "options": [
        {"value": json.loads(k), "count": tally.get(k, 0),
         "pct": round(100.0 * tally.get(k, 0) / count, 1) if count else 0.0} for k in known],
        "unexpected": unexpected}


def _choices(con: duckdb.DuckDBPyConnection, name: str, kind: str, prop: Record, by_split: bool,
             groups: Groups) -> dict[Any, Record]:
    rows = _bucket(_fetch(con, f"SELECT {_g(by_split)} AS g, j::VARCHAR, sum(n)::BIGINT FROM vals WHERE field = ? "
                                "GROUP BY ALL", [name]))
    return {g: _choice_stats([(json.loads(j), int(n)) for j, n in rows.get(g, [])], kind, prop) for g in groups}


def _r(x: float | None) -> float | None:
    """Rounded so that parallel float sums (last-bit noise between runs) give the same figure every time."""
    return None if x is None else round(float(x), 9)


def _bins(lo: float, hi: float, integral: bool, counts: dict[Any, int]) -> list[Record]:
    if integral and hi - lo < 20:
        return [{"lo": v, "hi": v + 1, "count": counts.get(v, 0)} for v in range(int(lo), int(hi) + 1)]
    if lo == hi:
        return [{"lo": lo, "hi": hi, "count": sum(counts.values())}]
    width = (hi - lo) / HISTOGRAM_BINS
    return [{"lo": _r(lo + i * width), "hi": _r(lo + (i + 1) * width) if i < HISTOGRAM_BINS - 1 else hi,
             "count": counts.get(i, 0)} for i in range(HISTOGRAM_BINS)]


def _number(con: duckdb.DuckDBPyConnection, name: str, kind: str, prop: Record, by_split: bool,
            groups: Groups) -> dict[Any, Record]:
    con.execute(f"CREATE OR REPLACE TEMP TABLE num_values AS SELECT {_g(by_split)} AS g, j::DOUBLE AS v, n "
                f"FROM vals WHERE field = ? AND json_type(j) IN {_NUMERIC_JSON}", [name])  # parsed once
    first = {r[0]: r[1:] for r in _fetch(con, "SELECT g, sum(n)::BIGINT, min(v), max(v), sum(v * n) / sum(n), "
                                         "coalesce(sum(n) FILTER (v >= 9), 0)::BIGINT, "
                                         "coalesce(sum(n) FILTER (v <= 6), 0)::BIGINT FROM num_values GROUP BY g", [])}
    spread = {r[0]: r[1:] for r in _fetch(con, "SELECT g, quantile_cont(v, 0.25), quantile_cont(v, 0.5), "
                                          "quantile_cont(v, 0.75), stddev_samp(v) FROM "
                                          "(SELECT g, v, unnest(range(n)) FROM num_values) GROUP BY g", [])}
    integral = _json_type(prop) == "integer"
    small = integral and all(hi - lo < 20 for _, lo, hi, *_ in first.values())
    if small:  # one bin per integer: the counts per value are the histogram
        hist = _bucket(_fetch(con, "SELECT g, v::BIGINT, sum(n)::BIGINT FROM num_values GROUP BY ALL", []))
    else:
        hist = _bucket(_fetch(con, "WITH s AS (SELECT g, min(v) AS lo, max(v) AS hi FROM num_values GROUP BY g) "
                              "SELECT x.g, CASE WHEN hi = lo THEN 0 "
                              "ELSE least(floor((v - lo) / ((hi - lo) / ?))::BIGINT, ?) END AS b, sum(n)::BIGINT "
                              "FROM num_values x JOIN s ON x.g IS NOT DISTINCT FROM s.g GROUP BY ALL",
                              [HISTOGRAM_BINS, HISTOGRAM_BINS - 1]))
    out = {}
    for g in groups:
        count, lo, hi, mean, promoters, detractors = first.get(g, (0, None, None, None, 0, 0))
        stats: Record = {"count": int(count or 0), "mean": _r(mean), "median": None, "p25": None, "p75": None,
                         "min": lo, "max": hi, "stdev": None, "histogram": []}
        if count:
            q25, q50, q75, sd = spread[g]
            counts = {k: int(n) for k, n in hist.get(g, [])}
            stats.update(median=_r(q50), p25=_r(q25), p75=_r(q75), stdev=_r(sd),
                         histogram=_bins(lo, hi, integral and small, counts))
            if integral:
                stats.update(min=int(lo), max=int(hi))
        if kind == "nps":
            c, p, d = int(count or 0), int(promoters), int(detractors)
            stats.update(promoters=p, passives=c - p - d, detractors=d,
                         score=round(100.0 * (p - d) / c, 1) if c else None)
        out[g] = stats
    return out


def _text(by_split: bool) -> str:
    return (f"WITH x AS (SELECT {_g(by_split)} AS g, CASE WHEN json_type(j) = 'VARCHAR' THEN j->>'$' "
            "ELSE j::VARCHAR END AS s, sum(n)::BIGINT AS n FROM vals WHERE field = ? GROUP BY ALL)")


def _ranked(con: duckdb.DuckDBPyConnection, by_split: bool, order: str, limit: int) -> dict[Any, list[Any]]:
    """The first ``limit`` values of each group of ``text_values`` (a plain top-N without groups)."""
    if not by_split:
        return _bucket(_fetch(con, f"SELECT g, s, n FROM text_values ORDER BY {order} LIMIT {limit}", []))
    return _bucket(_fetch(con, f"SELECT g, s, n FROM (SELECT g, s, n, row_number() OVER "
                               f"(PARTITION BY g ORDER BY {order}) AS r FROM text_values) WHERE r <= {limit} "
                               "ORDER BY g, r", []))


def _string(con: duckdb.DuckDBPyConnection, name: str, kind: str, prop: Record, by_split: bool,
            groups: Groups) -> dict[Any, Record]:
    con.execute(f"CREATE OR REPLACE TEMP TABLE text_values AS {_text(by_split)} SELECT * FROM x", [name])
    totals = {r[0]: r[1:] for r in _fetch(con, "SELECT g, sum(n)::BIGINT, count(*) FROM text_values GROUP BY g", [])}
    top = _ranked(con, by_split, "n DESC, s", TOP_VALUES)
    samples = _ranked(con, by_split, "hash(s), s", SAMPLES)
    out = {}
    for g in groups:
        count, distinct = totals.get(g, (0, 0))
        out[g] = {"count": int(count), "distinct": int(distinct),
                  "top": [{"value": s, "count": int(n)} for s, n in top.get(g, [])],
                  "samples": [s for s, _ in samples.get(g, [])]}
    return out


def _dates(con: duckdb.DuckDBPyConnection, name: str, kind: str, prop: Record, by_split: bool,
           groups: Groups) -> dict[Any, Record]:
    """Range and per-day counts; date-times are read with their offsets and counted by UTC day."""
    if kind == "date":
        parsed, day = "TRY_CAST(s AS DATE)", "d"

        def show(col: str) -> str:
            return f"strftime({col}, '%Y-%m-%d')"
    else:
        parsed, day = "TRY_CAST(s AS TIMESTAMPTZ)", "CAST(timezone('UTC', d) AS DATE)"

        def show(col: str) -> str:
            return f"strftime(timezone('UTC', {col}), '%Y-%m-%dT%H:%M:%S.%fZ')"
    base = _text(by_split) + f", y AS (SELECT g, {parsed} AS d, n FROM x)"
    ranges = {r[0]: r[1:] for r in _fetch(
        con, f"{base}, z AS (SELECT g, sum(n)::BIGINT AS c, min(d) AS lo, max(d) AS hi FROM y GROUP BY g) "
             f"SELECT g, c, {show('lo')}, {show('hi')} FROM z", [name])}
    days = _bucket(_fetch(con, f"{base} SELECT g, strftime({day}, '%Y-%m-%d') AS day, sum(n)::BIGINT FROM y "
                               "WHERE d IS NOT NULL GROUP BY ALL ORDER BY g, day", [name]))
    out = {}
    for g in groups:
        count, lo, hi = ranges.get(g, (0, None, None))
        out[g] = {"count": int(count), "min": lo, "max": hi,
                  "per_day": [{"date": d, "count": int(n)} for d, n in days.get(g, [])]}
    return out


def _presence(con: duckdb.DuckDBPyConnection, name: str, kind: str, prop: Record, by_split: bool,
              groups: Groups) -> dict[Any, Record]:
    """Counts only: a sensitive field for a caller who may not see it."""
    counts = dict(_fetch(con, f"SELECT {_g(by_split)} AS g, sum(n)::BIGINT FROM vals WHERE field = ? GROUP BY g",
                         [name]))
    return {g: {"count": int(counts.get(g, 0))} for g in groups}


_STATS = {"enum": _choices, "boolean": _choices, "array": _choices, "number": _number, "nps": _number,
          "string": _string, "date": _dates, "datetime": _dates}


def _fields(run: _Run, form: Record, hide: frozenset[str], totals: dict[Any, int],
            by_split: bool) -> dict[Any, Record]:
    """``{group: {field: summary}}`` for the given group totals (``'*'``: the whole form)."""
    props = form["schema"].get("properties") or {}
    groups: Groups = list(totals)
    out: dict[Any, Record] = {g: {} for g in groups}
    for name, kind in run.kinds.items():
        hidden = name in hide
        fn = _presence if hidden else _STATS[kind]
        for g, stats in fn(run.con, name, kind, props.get(name) or {}, by_split, groups).items():
            out[g][name] = {"kind": kind, "count": stats["count"], "missing": totals[g] - stats["count"],
                            "redacted": hidden, **({} if hidden else stats)}
    return out


def _needed(form: Record, query: SubmissionQuery, split_by: str | None,
            hide: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(sensitive fields filtered or split on, sensitive fields the caller may see)."""
    sensitive = frozenset(form.get("sensitive") or ())
    referenced = {f.field for f in query.answers} | ({split_by} if split_by else set())
    return frozenset(sensitive & referenced), frozenset(sensitive - hide)


def _without_files_on_failure(compute: Callable[[Path | None], Record], export_dir: Path) -> Record:
    """The export is a copy: when a file cannot be read (removed, truncated, corrupt), count from the store."""
    try:
        return compute(export_dir)
    except (duckdb.IOException, duckdb.InvalidInputException) as exc:
        log.warning("exported files unreadable; computing from the store alone", extra={"error": str(exc)})
        return compute(None)


def summarize(store: AnalyticsStore, export_dir: Path, req: SummaryRequest, now: datetime | None = None,
              limits: EngineLimits | None = None) -> Record:
    """The summary of one form under the list filters, optionally split by an enum field."""
    as_of = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return _without_files_on_failure(lambda d: _summarize(store, d, req, as_of, limits), export_dir)


def _summarize(store: AnalyticsStore, export_dir: Path | None, req: SummaryRequest, as_of: str,
               limits: EngineLimits | None = None) -> Record:
    form = req.form
    names = tuple(field_kinds(form["schema"]))
    run = _Run(store, export_dir, form, req.query, req.split_by, names,
               _needed(form, req.query, req.split_by, req.hide), limits)
    try:
        if run.rollable(req.query, req.split_by):
            run.merge_rolled_up()
        else:
            run.groups_table()
            run.values_table()
        status = dict.fromkeys(SUBMISSION_STATUSES, 0)
        for st, n in _fetch(run.con, "SELECT status, sum(n)::BIGINT FROM statuses GROUP BY 1", []):
            status[st] = int(n)
        total = sum(status.values())
        completed = store.completed_drafts(req.query, req.split_by)
        out: Record = {
            "form_id": form["id"], "form_version": form["version"], "as_of": as_of, "cached": False,
            "total": total, "status": status,
            "drafts": {"open": status.get("draft", 0), "completed": sum(n for _, n in completed)},
            "fields": _fields(run, form, req.hide, {"*": total}, False)["*"], "split": None,
        }
        if req.split_by:
            out["split"] = {"field": req.split_by, "groups": _split_groups(run, form, req.split_by, req.hide)}
        return out
    finally:
        run.con.close()


def _split_groups(run: _Run, form: Record, split_by: str, hide: frozenset[str]) -> list[Record]:
    rows = _fetch(run.con, f"SELECT sv, sum(n)::BIGINT AS t FROM statuses GROUP BY sv ORDER BY t DESC, sv "
                  f"LIMIT {SPLIT_GROUPS}", [])
    totals = {sv: int(n) for sv, n in rows}
    fields = _fields(run, form, hide, totals, True)
    prop = form["schema"]["properties"][split_by]
    return [{"value": _split_value(prop, run.split_kind, sv), "total": n, "fields": fields[sv]}
            for sv, n in totals.items()]


def _split_value(prop: Record, kind: str | None, sv: str | None) -> Any:
    """Back from the string key to the option itself (enum options may be numbers)."""
    if sv is None:
        return None
    if kind == "boolean":
        return sv == "true"
    return next((o for o in prop.get("enum") or [] if split_key("enum", o) == sv), sv)


# --- time series ---------------------------------------------------------------------
def _next(start: date, interval: str) -> date:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def timeseries(store: AnalyticsStore, export_dir: Path, form: Record, query: SubmissionQuery, interval: str,
               tz: str, now: datetime | None = None, limits: EngineLimits | None = None) -> Record:
    """Submissions per day, ISO week (Monday) or month, bucketed by the local date in ``tz``.

    Every bucket between the first and the last is present (0 when empty), so
    a chart's gaps are real gaps.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}")
    as_of = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    hide_all = frozenset(form.get("sensitive") or ())

    def compute(files: Path | None) -> Record:
        run = _Run(store, files, form, query, None, (), _needed(form, query, None, hide_all), limits)
        try:
            return {"rows": run.timeline(interval, tz)}
        finally:
            run.con.close()

    rows = _without_files_on_failure(compute, export_dir)["rows"]
    buckets: dict[str, dict[str, int]] = {}
    for start, status, n in rows:
        buckets.setdefault(start, {})[status] = n
    points = []
    if buckets:
        day, last = date.fromisoformat(min(buckets)), date.fromisoformat(max(buckets))
        while day <= last:
            by_status = buckets.get(day.isoformat(), {})
            points.append({"start": day.isoformat(), "count": sum(by_status.values()), "by_status": by_status})
            day = _next(day, interval)
    return {"form_id": form["id"], "interval": interval, "tz": tz, "as_of": as_of, "cached": False,
            "points": points}


# --- CSV ----------------------------------------------------------------------------
CSV_COLUMNS = ("group", "field", "kind", "measure", "value", "count", "pct")


def _field_rows(group: str, name: str, f: Record) -> Iterable[tuple[Any, ...]]:
    kind = f["kind"]
    yield group, name, kind, "count", "", f["count"], ""
    yield group, name, kind, "missing", "", f["missing"], ""
    if f["redacted"]:
        return
    for o in f.get("options") or []:
        yield group, name, kind, "option", json.dumps(o["value"]) if not isinstance(o["value"], str) else o["value"], \
            o["count"], o["pct"]
    if "unexpected" in f:
        yield group, name, kind, "unexpected", "", f["unexpected"], ""
    for stat in ("mean", "median", "p25", "p75", "min", "max", "stdev", "promoters", "passives", "detractors",
                 "score", "distinct"):
        if stat in f:
            yield group, name, kind, stat, f[stat] if f[stat] is not None else "", "", ""
    for b in f.get("histogram") or []:
        yield group, name, kind, "bin", f"{b['lo']}..{b['hi']}", b["count"], ""
    for t in f.get("top") or []:
        yield group, name, kind, "top", t["value"], t["count"], ""
    for d in f.get("per_day") or []:
        yield group, name, kind, "day", d["date"], d["count"], ""


def summary_csv(summary: Record) -> str:
    """The summary as one long table: ``group,field,kind,measure,value,count,pct``.

    ``group`` is empty for the whole form and the split value for a split
    group; form-level rows (total, status, drafts) have no field. Text that a
    spreadsheet would run as a formula gets a leading ``'`` (:mod:`etl.csvsafe`).
    Lines end in CRLF (RFC 4180): with a bare LF, Python's writer leaves a
    value holding a CR unquoted, and a reader would split the row there.
    """
    buf = io.StringIO()
    out = SafeWriter(csv.writer(buf, lineterminator="\r\n"))
    out.writerow(CSV_COLUMNS)
    out.writerow(("", "", "", "total", "", summary["total"], ""))
    for status, n in summary["status"].items():
        out.writerow(("", "", "", "status", status, n, ""))
    out.writerow(("", "", "", "drafts_open", "", summary["drafts"]["open"], ""))
    out.writerow(("", "", "", "drafts_completed", "", summary["drafts"]["completed"], ""))
    for name, f in summary["fields"].items():
        out.writerows(_field_rows("", name, f))
    for g in (summary.get("split") or {}).get("groups") or []:
        label = "" if g["value"] is None else (g["value"] if isinstance(g["value"], str) else json.dumps(g["value"]))
        out.writerow((label, "", "", "total", "", g["total"], ""))
        for name, f in g["fields"].items():
            out.writerows(_field_rows(label, name, f))
    return buf.getvalue()
