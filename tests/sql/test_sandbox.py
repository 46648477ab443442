"""The admin SQL sandbox (etl/sandbox.py) on real DuckDB over a real daily export.

Two layers are tested apart: the statement check refuses with a reason, and
the locked connection refuses the same things on its own (so a statement the
check let through would still be stopped by DuckDB).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from app.services import Services
from etl import sandbox
from etl.export import export_day

LIMITS = sandbox.Limits(timeout_s=1.0, max_rows=100, memory_limit="256MB", threads=1, max_temp_size="64MB")
DAY = date(2026, 3, 14)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    export, temp = tmp_path / "exports", tmp_path / "sql-tmp"
    export.mkdir()
    (tmp_path / "secret.csv").write_text("a,b\n1,2\n")
    return export, temp


def run(sql: str, dirs: tuple[Path, Path], limits: sandbox.Limits = LIMITS, **kw: Any) -> sandbox.QueryResult:
    return sandbox.run_query(sql, dirs[0], dirs[1], limits, **kw)


@pytest.mark.parametrize(("sql", "why"), [
    ("COPY (SELECT 1) TO '/tmp/out.csv'", "COPY is not allowed"),
    ("ATTACH '/tmp/other.duckdb' AS o", "ATTACH is not allowed"),
    ("INSTALL httpfs", "INSTALL/LOAD is not allowed"),
    ("LOAD httpfs", "INSTALL/LOAD is not allowed"),
    ("SET enable_external_access = true", "SET/RESET is not allowed"),
    ("RESET threads", "SET/RESET is not allowed"),
    ("PRAGMA threads = 8", "PRAGMA is not allowed"),
    ("CREATE TABLE t AS SELECT 1", "CREATE statements are not allowed"),
    ("SELECT 1; COPY (SELECT 1) TO '/tmp/x.csv'", "COPY is not allowed"),
])
def test_statement_check_refuses_with_a_reason(sql: str, why: str, dirs: tuple[Path, Path]) -> None:
    with pytest.raises(sandbox.SqlForbidden, match=why):
        run(sql, dirs)


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('{outside}')",
    "SELECT * FROM read_text('{outside}')",
    "SELECT * FROM read_parquet('{export}/../secret.csv')",
    'SELECT * FROM "{outside}"',
    "SELECT * FROM '{outside}'",
    'SELECT * FROM "/etc/passwd"',
    "SELECT * FROM read_csv('/etc/passwd', sep = ':')",
    "SELECT * FROM glob('/etc/*')",
])
def test_files_outside_the_export_directory_are_refused(sql: str, dirs: tuple[Path, Path]) -> None:
    text = sql.format(outside=dirs[0].parent / "secret.csv", export=dirs[0])
    with pytest.raises(sandbox.SqlForbidden, match="not allowed") as err:
        run(text, dirs)
    assert "export directory" in str(err.value)


def test_the_locked_connection_refuses_on_its_own(dirs: tuple[Path, Path]) -> None:
    """Skip the statement check: DuckDB's own configuration must still stop each of these."""
    outside = dirs[0].parent / "secret.csv"
    con = sandbox.connect(dirs[0], dirs[1], LIMITS)
    refusals = {
        f"SELECT * FROM read_csv('{outside}')": duckdb.PermissionException,
        f'SELECT * FROM "{outside}"': duckdb.PermissionException,  # the replacement scan may not open it
        'SELECT * FROM "/etc/passwd"': duckdb.CatalogException,  # no extension: not even tried as a file
        f"COPY (SELECT 1) TO '{dirs[0].parent / 'out.csv'}'": duckdb.PermissionException,
        f"ATTACH '{dirs[0].parent / 'x.duckdb'}'": duckdb.PermissionException,
        "INSTALL httpfs": duckdb.PermissionException,
        "LOAD httpfs": duckdb.PermissionException,
        "SET enable_external_access = true": duckdb.InvalidInputException,
        "SET allowed_directories = ['/']": duckdb.InvalidInputException,
        "RESET memory_limit": duckdb.InvalidInputException,
        "PRAGMA threads = 8": duckdb.InvalidInputException,
    }
    for sql, kind in refusals.items():
        with pytest.raises(kind):
            con.execute(sql)
    settings = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN "
                                "('enable_external_access', 'lock_configuration', 'autoload_known_extensions', "
                                "'autoinstall_known_extensions', 'threads')").fetchall())
    assert settings == {"enable_external_access": "false", "lock_configuration": "true",
                        "autoload_known_extensions": "false", "autoinstall_known_extensions": "false",
                        "threads": "1"}
    assert not (dirs[0].parent / "out.csv").exists()
    con.close()


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM range(1000000000000)",
    "SELECT count(*) FROM range(1000000) a, range(1000000) b",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT max(n) FROM t",
])
def test_an_endless_query_ends_at_the_time_limit(sql: str, dirs: tuple[Path, Path]) -> None:
    t0 = time.monotonic()
    with pytest.raises(sandbox.SqlTimeout, match="time limit of 1 s"):
        run(sql, dirs)
    assert time.monotonic() - t0 < LIMITS.timeout_s + 3.0


def test_rows_past_the_limit_are_cut_and_flagged(dirs: tuple[Path, Path]) -> None:
    result = run("SELECT range AS n FROM range(500) ORDER BY n DESC", dirs, max_rows=10)
    assert result.rows == [[n] for n in range(499, 489, -1)]
    assert result.truncated and result.truncated_by == "rows" and result.row_limit == 10
    exact = run("SELECT range AS n FROM range(10)", dirs, max_rows=10)
    assert not exact.truncated and len(exact.rows) == 10
    capped = run("SELECT 1", dirs, max_rows=10**9)
    assert capped.row_limit == LIMITS.max_rows  # a caller cannot lift the setting


def test_fit_trims_to_a_byte_budget_and_says_so(dirs: tuple[Path, Path]) -> None:
    result = run("SELECT repeat('x', 100) AS s FROM range(100)", dirs)
    small = sandbox.fit(result, 2_000)
    assert 0 < len(small.rows) < 100 and small.truncated and small.truncated_by == "size"
    assert len(sandbox.json.dumps(small.to_dict())) <= 2_000
    assert sandbox.fit(result, 10**6) is result


def test_the_submissions_view_reads_the_daily_export(svc: Services, form: dict[str, Any],
                                                     dirs: tuple[Path, Path]) -> None:
    from tests.test_export import _seed

    _seed(svc, form, "2026-03-14T10:00:00.000000Z", 3, "a")
    export_day(svc.store, DAY, dirs[0])
    result = run("SELECT form_id, date, status, count(*) AS n, min(created_at) AS first, "
                 "any_value(answers->>'phone') AS phone FROM submissions GROUP BY ALL", dirs)
    assert [c["name"] for c in result.columns] == ["form_id", "date", "status", "n", "first", "phone"]
    assert result.rows == [[form["id"], "2026-03-14", "submitted", 3, "2026-03-14T10:00:00", "[redacted]"]]
    described = run("DESCRIBE submissions", dirs)
    assert [r[0] for r in described.rows] == [c for c, _, _ in sandbox.VIEW_COLUMNS]


def test_the_view_exists_before_anything_was_exported(dirs: tuple[Path, Path]) -> None:
    result = run("SELECT count(*) AS n FROM submissions", dirs)
    assert result.rows == [[0]]
    assert [r[0] for r in run("DESCRIBE submissions", dirs).rows] == [c for c, _, _ in sandbox.VIEW_COLUMNS]


@pytest.mark.parametrize(("sql", "code"), [("SELEC 1", "sql_invalid"), ("SELECT * FROM nope", "sql_invalid"),
                                           ("", "sql_invalid"), ("SELECT 1; SELECT 2", "sql_invalid"),
                                           ("SELECT '\ud800'", "sql_invalid"), (";", "sql_invalid"),
                                           ("SELECT ?", "sql_invalid")])
def test_bad_sql_is_invalid_not_forbidden(sql: str, code: str, dirs: tuple[Path, Path]) -> None:
    with pytest.raises(sandbox.SqlError) as err:
        run(sql, dirs)
    assert err.value.code == code and str(err.value)


def test_the_byte_budget_stops_the_fetch_and_says_so(dirs: tuple[Path, Path]) -> None:
    result = run("SELECT repeat('x', 100) AS s FROM range(100)", dirs, max_bytes=2_000)
    assert 0 < len(result.rows) < 100 and result.truncated and result.truncated_by == "size"
    assert len(json.dumps(result.to_dict())) <= 2_000  # as the task record encodes it
    whole = run("SELECT repeat('x', 100) AS s FROM range(100)", dirs, max_bytes=10**6)
    assert len(whole.rows) == 100 and not whole.truncated
    by_rows = run("SELECT range AS n FROM range(500)", dirs, max_rows=10, max_bytes=10**6)
    assert by_rows.truncated_by == "rows" and len(by_rows.rows) == 10
    too_wide = run("SELECT repeat('x', 5000) AS s", dirs, max_bytes=2_000)
    assert too_wide.rows == [] and too_wide.truncated_by == "size"


PEAK_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from etl import sandbox

    def peak_mb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmHWM"))

    limits = sandbox.Limits(timeout_s=60, max_rows=10_000, memory_limit="100MB", threads=1, max_temp_size="64MB")
    export, temp = Path(sys.argv[1]), Path(sys.argv[2])
    sandbox.run_query("SELECT 1", export, temp, limits)  # DuckDB loaded and a connection made: the baseline
    before = peak_mb()
    result = sandbox.run_query("SELECT repeat('x', 20000) AS s FROM range(10000)", export, temp, limits,
                               max_bytes=63_000)
    print(json.dumps({"grew_mb": peak_mb() - before, "rows": len(result.rows), "by": result.truncated_by}))
""")


def test_a_wide_result_does_not_pile_up_in_python(dirs: tuple[Path, Path]) -> None:
    """200 MB of rows (10,000 x 20 kB) of which 63 kB can be kept: the peak RSS grows by about one
    DuckDB vector (2,048 rows), not by the whole result twice over (~460 MB when it was fetched whole)."""
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(dirs[0]), str(dirs[1])], capture_output=True,
                         text=True, timeout=120, cwd=Path(__file__).resolve().parents[2], check=True)
    peak = json.loads(out.stdout.strip().splitlines()[-1])
    assert peak["by"] == "size" and peak["rows"] == 3
    assert peak["grew_mb"] < 250, peak


def test_each_query_spills_into_its_own_directory_removed_afterwards(dirs: tuple[Path, Path]) -> None:
    first = run("SELECT current_setting('temp_directory') AS d", dirs).rows[0][0]
    second = run("SELECT current_setting('temp_directory') AS d", dirs).rows[0][0]
    assert first != second
    assert Path(first).parent == Path(second).parent == dirs[1].resolve()
    assert not Path(first).exists() and not Path(second).exists()
    assert list(dirs[1].iterdir()) == []


@pytest.mark.parametrize("sql", [
    "SELECT * FROM glob('{root}/**')",
    "SELECT * FROM glob('{root}/*/*')",
    "SELECT * FROM read_text('{root}/q-other/spill.block')",
    "SELECT * FROM read_text('{own}/../q-other/spill.block')",
])
def test_a_query_cannot_see_another_querys_spill_files(sql: str, dirs: tuple[Path, Path]) -> None:
    other = dirs[1] / "q-other"
    other.mkdir(parents=True)
    (other / "spill.block").write_text("someone else's rows")
    own = run("SELECT current_setting('temp_directory') AS d", dirs).rows[0][0]
    with pytest.raises(sandbox.SqlForbidden, match="not allowed"):
        run(sql.format(root=dirs[1].resolve(), own=own), dirs)
    assert (other / "spill.block").exists()  # not a stale directory: only its own query removes it


def test_spill_directories_left_by_a_killed_worker_are_swept(dirs: tuple[Path, Path]) -> None:
    import os

    stale, fresh = dirs[1] / "q-stale", dirs[1] / "q-fresh"
    for path in (stale, fresh):
        path.mkdir(parents=True)
        (path / "spill.block").write_bytes(b"x")
    old = time.time() - sandbox.STALE_TEMP_S - 60
    os.utime(stale, (old, old))
    run("SELECT 1", dirs)
    assert not stale.exists() and fresh.exists()


def _bytes(size: str) -> float:
    """``192MB``, ``1G``, ``2GiB`` as bytes (DuckDB's and systemd's spellings, 1000- or 1024-based alike)."""
    import re

    number, unit = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)i?B?\s*", size.upper()).groups()  # type: ignore[union-attr]
    return float(number) * 1024 ** "_KMGT".index(unit or "_")


def test_the_default_memory_limit_fits_the_worker_that_runs_queries() -> None:
    """Every task thread of the process serving ``analytics`` may run a query at once, beside the
    process's other work: their memory limits together must leave room within its MemoryMax."""
    from app.process_tree import PROCESSES, resolve_count
    from app.settings import Settings

    defaults = Settings()
    worker = next(p for p in PROCESSES if "analytics" in p.queues)
    assert worker.memory_max is not None
    at_once = worker.threads * resolve_count(worker.processes)
    assert at_once * _bytes(defaults.sql_memory_limit) <= 0.8 * _bytes(worker.memory_max), (worker, defaults)
    assert defaults.sql_threads == 1
    assert sandbox.Limits.from_settings(defaults) == sandbox.Limits(
        timeout_s=defaults.sql_timeout, max_rows=defaults.sql_max_rows, memory_limit=defaults.sql_memory_limit,
        threads=defaults.sql_threads, max_temp_size=defaults.sql_max_temp_size)
