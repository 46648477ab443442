"""Sandboxed, read-only SQL for administrators over the exported data.

The one table a query sees is the view ``submissions`` over the daily
export's Parquet files (see :data:`VIEW_COLUMNS`, documented in the README).

Two layers, because either alone is too weak:

1. :func:`check_statements` parses the text with DuckDB's own parser and
   refuses everything but one ``SELECT`` (``COPY``, ``ATTACH``, ``INSTALL``,
   ``LOAD``, ``SET``, ``RESET``, ``PRAGMA``, DDL, DML ...) with a reason, so
   the API can answer 400 before anything is enqueued.
2. Every connection is locked down the way DuckDB's "Securing DuckDB" guide
   says, in this order: resource limits (``threads``, ``memory_limit``,
   ``max_temp_directory_size``), extension autoinstall/autoload off,
   ``allowed_directories`` = the export directory, *then*
   ``enable_external_access = false`` (the allow-list is only honoured once
   external access is off, and can no longer be set after it), and finally
   ``lock_configuration = true`` so no statement can undo any of it. A bare
   quoted path (``FROM "/etc/passwd"``) or ``read_csv('/etc/passwd')`` is
   then refused by DuckDB itself, whatever the first layer missed.

Time is bounded by a watchdog that calls ``interrupt()`` on the connection
until the query stops (one call can land before execution starts and be
lost), rows by a ``LIMIT`` of ``max_rows + 1`` on the query's relation, so a
result that was cut is flagged ``truncated`` instead of silently short.

Memory outside DuckDB is bounded too: ``memory_limit`` does not cover the
rows handed to Python, so the result streams out in small batches, each row
is converted and sized as it comes, and fetching stops at the byte budget
(the task record's size) or the row limit, whichever is first
(``truncated_by``). What is held is the budget plus one DuckDB vector
(2,048 rows at most) of the widest rows, not the whole result.

Each query spills into a fresh directory of its own under the temp root
(:func:`query_temp_dir`), removed when it ends: DuckDB adds its
``temp_directory`` to the allowed directories, so a shared one would let a
query list and read other queries' spill files.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import decimal
import json
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

if TYPE_CHECKING:
    from app.settings import Settings

T = TypeVar("T")
INTERRUPT_EVERY_S = 0.05
FETCH_MAX_BATCH = 1_024  # rows per fetch at most; fewer when rows are wide (see _fetch_bounded)
STALE_TEMP_S = 24 * 3600  # a query's spill directory this old was left by a killed process
# (column, DuckDB type, meaning): the README's table of the view is this list.
VIEW_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "VARCHAR", "Submission id (ULID)."),
    ("form_id", "VARCHAR", "Form id (Hive partition)."),
    ("date", "DATE", "UTC day the submission was created (Hive partition)."),
    ("form_version", "BIGINT", "Form version the answers were validated against."),
    ("status", "VARCHAR", "draft, submitted, in_review, approved, rejected or quarantined."),
    ("created_at", "TIMESTAMP", "Creation time, UTC."),
    ("updated_at", "TIMESTAMP", "Last change, UTC."),
    ("answers", "JSON", "The answers object; sensitive fields are `\"[redacted]\"` unless the export kept them."),
)
_FORBIDDEN = {
    "COPY": "COPY is not allowed: queries are read-only and cannot read or write files",
    "ATTACH": "ATTACH is not allowed: only the submissions view over the export directory can be queried",
    "DETACH": "DETACH is not allowed: the query sandbox has one database",
    "LOAD": "INSTALL/LOAD is not allowed: extensions cannot be installed or loaded in the query sandbox",
    "EXTENSION": "INSTALL/LOAD is not allowed: extensions cannot be installed or loaded in the query sandbox",
    "SET": "SET/RESET is not allowed: the sandbox's settings are locked",
    "VARIABLE_SET": "SET/RESET is not allowed: the sandbox's settings are locked",
    "PRAGMA": "PRAGMA is not allowed: it can change settings or read outside the sandbox",
    "CALL": "CALL is not allowed: use SELECT",
    "EXPORT": "EXPORT DATABASE is not allowed: queries cannot write files",
}
_BY_VERB = {"PRAGMA": "PRAGMA", "INSTALL": "EXTENSION", "FORCE": "EXTENSION", "LOAD": "LOAD", "RESET": "SET"}


class SqlError(Exception):
    """A query that cannot run; ``code`` is the API error code, the message says why."""

    code = "sql_invalid"


class SqlForbidden(SqlError):
    code = "sql_forbidden"


class SqlInvalid(SqlError):
    code = "sql_invalid"


class SqlTimeout(SqlError):
    code = "sql_timeout"


class SqlResources(SqlError):
    code = "sql_resources"


@dataclass(frozen=True)
class Limits:
    """What one query may use; from FMS_SQL_* settings (:meth:`from_settings`)."""

    timeout_s: float = 30.0
    max_rows: int = 10_000
    memory_limit: str = "192MB"
    threads: int = 1
    max_temp_size: str = "1GB"

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The one mapping from FMS_SQL_* to limits, used by the API's check and the task alike."""
        return cls(timeout_s=settings.sql_timeout, max_rows=settings.sql_max_rows,
                   memory_limit=settings.sql_memory_limit, threads=settings.sql_threads,
                   max_temp_size=settings.sql_max_temp_size)


@dataclass(frozen=True)
class QueryResult:
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    truncated: bool
    row_limit: int
    elapsed_ms: float
    truncated_by: str | None = None  # "rows" (more than row_limit) or "size" (too big for a task record)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows, "truncated": self.truncated,
                "truncated_by": self.truncated_by, "row_limit": self.row_limit, "elapsed_ms": self.elapsed_ms}


def temp_root(settings: Settings) -> Path:
    """Where each query gets its own spill directory (:func:`query_temp_dir`): outside the export
    directory, which queries may read, and never itself an allowed directory."""
    return settings.data_dir / "sql-tmp"


def check_statements(sql: str) -> str:
    """The one ``SELECT`` in ``sql`` (its text), or :class:`SqlForbidden`/:class:`SqlInvalid` saying why."""
    if not sql.strip():
        raise SqlInvalid("sql is empty")
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate, from a JSON "\\ud800" escape
        raise SqlInvalid("sql is not valid Unicode text") from exc
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlInvalid(f"sql does not parse: {_plain(exc)}") from exc
    for stmt in statements:
        kind = stmt.type.name
        verb = (str(stmt.query).split(None, 1) or [""])[0].upper()  # PRAGMA x = 1 parses as a SET
        if kind != "SELECT" and verb in _BY_VERB:
            raise SqlForbidden(_FORBIDDEN[_BY_VERB[verb]])
        if kind in _FORBIDDEN:
            raise SqlForbidden(_FORBIDDEN[kind])
        if kind != "SELECT":
            raise SqlForbidden(f"{kind} statements are not allowed: only a single read-only SELECT can run")
    if len(statements) != 1:
        raise SqlInvalid(f"send exactly one SELECT statement, not {len(statements)}")
    return str(statements[0].query)


def _pathlike(name: str) -> bool:
    return "/" in name or "\\" in name or name.startswith("~") or "." in name.rsplit("/", 1)[-1]


def parquet_glob(export_dir: Path) -> str:
    return str(export_dir.resolve() / "parquet" / "**" / "*.parquet")


def _view_sql(export_dir: Path) -> str:
    """The ``submissions`` view; over an empty typed relation while nothing has been exported yet."""
    if not any((export_dir / "parquet").glob("*/*/*.parquet")):
        cols = ", ".join(f"NULL::{kind} AS {name}" for name, kind, _ in VIEW_COLUMNS)
        return f"CREATE VIEW submissions AS SELECT {cols} WHERE false"
    glob = parquet_glob(export_dir).replace("'", "''")
    return (
        "CREATE VIEW submissions AS SELECT id, form_id, date, form_version, status, "
        "CAST(created_at AS TIMESTAMP) AS created_at, CAST(updated_at AS TIMESTAMP) AS updated_at, "
        "CAST(answers AS JSON) AS answers "
        f"FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true, "
        "hive_types = {'form_id': 'VARCHAR', 'date': 'DATE'})"
    )


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def connect(export_dir: Path, temp_dir: Path, limits: Limits) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection locked down as the module docstring says (order matters)."""
    export_dir.mkdir(parents=True, exist_ok=True)
    temp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    allowed = str(export_dir.resolve())
    for statement in (
        f"SET threads = {int(limits.threads)}",
        f"SET memory_limit = {_quote(limits.memory_limit)}",
        f"SET temp_directory = {_quote(str(temp_dir.resolve()))}",
        f"SET max_temp_directory_size = {_quote(limits.max_temp_size)}",
        "SET allow_community_extensions = false",
        "SET allow_persistent_secrets = false",
        _view_sql(export_dir),
        f"SET allowed_directories = [{_quote(allowed)}]",
        "SET enable_external_access = false",
        "SET lock_configuration = true",
    ):
        con.execute(statement)
    return con


def with_deadline(con: duckdb.DuckDBPyConnection, timeout_s: float, fn: Callable[[], T]) -> T:
    """Run ``fn`` (which uses ``con``); past ``timeout_s`` interrupt ``con`` until ``fn`` returns or raises."""
    done = threading.Event()
    fired = threading.Event()

    def watchdog() -> None:
        if done.wait(timeout_s):
            return
        fired.set()
        while not done.is_set():
            con.interrupt()
            done.wait(INTERRUPT_EVERY_S)

    guard = threading.Thread(target=watchdog, name="sql-deadline", daemon=True)
    guard.start()
    try:
        return fn()
    except duckdb.InterruptException as exc:
        if fired.is_set():
            raise SqlTimeout(f"query exceeded the time limit of {timeout_s:g} s and was stopped") from exc
        raise
    finally:
        done.set()
        guard.join()


def _bind(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation:
    try:
        return con.sql(sql)
    except duckdb.Error as exc:
        raise classify(exc) from exc


def classify(exc: duckdb.Error) -> SqlError:
    """A DuckDB error as the API's: the sandbox's refusals are ``sql_forbidden``, the rest say what failed."""
    text = _plain(exc)
    if isinstance(exc, duckdb.PermissionException) or "disabled by configuration" in text:
        return SqlForbidden(f"access outside the export directory is not allowed: {text}")
    if "configuration has been locked" in text:
        return SqlForbidden(f"the sandbox's settings are locked: {text}")
    if isinstance(exc, duckdb.CatalogException) and (name := _missing_path(text)):
        # A bare quoted path outside the allowed directories is not even tried as a file, so DuckDB
        # only says "table does not exist"; say why instead.
        return SqlForbidden(f"reading {name!r} is not allowed: it is not a table, and the query sandbox reads "
                            "only files inside the export directory (query the submissions view)")
    if isinstance(exc, duckdb.OutOfMemoryException):
        return SqlResources(f"query ran out of its memory limit: {text}")
    return SqlInvalid(text)


def _missing_path(text: str) -> str | None:
    """The path in DuckDB's "Table with name X does not exist" when X looks like a file."""
    marker, end = "Table with name ", " does not exist"
    if marker not in text or end not in text:
        return None
    name = text.split(marker, 1)[1].split(end, 1)[0]
    return name if _pathlike(name) else None


def _plain(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:1000]


@contextlib.contextmanager
def query_temp_dir(root: Path) -> Iterator[Path]:
    """A fresh spill directory for one query under ``root``, removed when the query ends.

    DuckDB allows reading its ``temp_directory``; this one holds only the
    query's own spill files, and ``root`` (where every query's directory
    lives) is never allowed, so no query can list or read another's.
    """
    root.mkdir(parents=True, exist_ok=True)
    _sweep_stale(root)
    path = Path(tempfile.mkdtemp(prefix="q-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _sweep_stale(root: Path, older_than_s: float = STALE_TEMP_S) -> None:
    """Remove spill directories that a killed worker left behind (a live query's is seconds old)."""
    cutoff = time.time() - older_than_s
    for child in root.iterdir():
        with contextlib.suppress(OSError):
            if child.is_dir() and child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)


def validate(sql: str, export_dir: Path, temp_root: Path, limits: Limits) -> None:
    """Parse and bind ``sql`` in the sandbox without running it: the API's check before enqueueing.

    Binding resolves every table function and quoted path, so reading a file
    outside the export directory fails here already.
    """
    text = check_statements(sql)
    with query_temp_dir(temp_root) as temp_dir:
        con = connect(export_dir, temp_dir, limits)
        try:
            with_deadline(con, limits.timeout_s, lambda: _bind(con, text).columns)
        finally:
            con.close()


def run_query(sql: str, export_dir: Path, temp_root: Path, limits: Limits, max_rows: int | None = None,
              max_bytes: int | None = None) -> QueryResult:
    """Run one checked SELECT in a fresh sandboxed connection with its own spill directory.

    At most ``max_rows`` rows come back and, with ``max_bytes``, no more than
    keep the result's JSON within it; rows past either are never fetched.
    """
    text = check_statements(sql)
    row_limit = max(1, min(max_rows or limits.max_rows, limits.max_rows))
    t0 = time.perf_counter()
    with query_temp_dir(temp_root) as temp_dir:
        con = connect(export_dir, temp_dir, limits)
        try:
            columns, rows, cut = with_deadline(con, limits.timeout_s,
                                               lambda: _execute(con, text, row_limit, max_bytes))
        finally:
            con.close()
    result = QueryResult(columns, rows, cut is not None, row_limit, round((time.perf_counter() - t0) * 1000, 1), cut)
    return fit(result, max_bytes) if max_bytes is not None else result


def _execute(con: duckdb.DuckDBPyConnection, text: str, row_limit: int, max_bytes: int | None
             ) -> tuple[list[dict[str, str]], list[list[Any]], str | None]:
    """Columns, the rows that fit and why it stopped early (``"rows"``, ``"size"`` or None)."""
    rel = _bind(con, text)
    columns = [{"name": n, "type": str(t)} for n, t in zip(rel.columns, rel.types, strict=True)]
    budget = None if max_bytes is None else max_bytes - _envelope_bytes(columns, row_limit)
    try:
        con.execute(rel.limit(row_limit + 1).sql_query())  # streams: rows leave DuckDB as they are fetched
        rows, cut = _fetch_bounded(con, row_limit, budget)
    except duckdb.InterruptException:
        raise
    except duckdb.Error as exc:
        raise classify(exc) from exc
    return columns, rows, cut


def _envelope_bytes(columns: list[dict[str, str]], row_limit: int) -> int:
    """The JSON size of a result around its rows, at its longest (flags set, a large elapsed time)."""
    empty = QueryResult(columns, [], True, row_limit, 10.0**9, "rows")
    return len(json.dumps(empty.to_dict(), default=str))


def _fetch_bounded(con: duckdb.DuckDBPyConnection, row_limit: int, budget: int | None
                   ) -> tuple[list[list[Any]], str | None]:
    """Fetch converted rows until the result ends, ``row_limit`` is passed or ``budget`` bytes are used.

    Each row is sized as the task record will encode it (``json.dumps``, rows
    joined by ``", "``). Batches start at one row and grow to what the rest of
    the budget holds at the rows' average width, so a few very wide rows are
    never fetched together with many more.
    """
    rows: list[list[Any]] = []
    used, batch = 0, 1
    while chunk := con.fetchmany(batch):
        for raw in chunk:
            if len(rows) >= row_limit:
                return rows, "rows"
            row = [jsonable(v) for v in raw]
            used += len(json.dumps(row, default=str)) + 2
            if budget is not None and used > budget:
                return rows, "size"
            rows.append(row)
        if budget is None:
            batch = FETCH_MAX_BATCH
        else:
            batch = max(1, min(FETCH_MAX_BATCH, (budget - used) // max(1, used // max(1, len(rows)))))
    return rows, None


def fit(result: QueryResult, max_bytes: int) -> QueryResult:
    """Drop trailing rows until the result's JSON fits ``max_bytes`` (a task record's limit); flag it truncated.

    Sized with ``json.dumps``' default separators, as the task record stores it.
    """
    def size(rows: list[list[Any]]) -> int:
        return len(json.dumps({**result.to_dict(), "rows": rows, "truncated": True, "truncated_by": "size"},
                              default=str))

    if size(result.rows) <= max_bytes:
        return result
    lo, hi = 0, len(result.rows)  # the most rows that fit: binary search, each probe one dumps()
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(result.rows[:mid]) <= max_bytes:
            lo = mid
        else:
            hi = mid - 1
    return replace(result, rows=result.rows[:lo], truncated=True, truncated_by="size")


def jsonable(value: Any) -> Any:
    """A DuckDB value as JSON: timestamps ISO-8601, decimals as numbers, blobs base64, nesting kept."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)
