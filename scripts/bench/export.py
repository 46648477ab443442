"""Export benchmark (issue 8): streamed CSV and Parquet export of a seeded 10-field form, wall time and peak RSS.

    .venv/bin/python scripts/bench/export.py [--sizes 100k,1M] [--formats csv,parquet] [--modes etl,api]
                                             [--json out.json] [--workdir DIR]

For each size, the same synthetic submissions as ``scripts/bench/analytics.py``
(its seeded 10-field form and generator: streamed into SQLite in batches,
never all in memory) are exported once per format and mode, each run in a
fresh child process so its peak RSS (``ru_maxrss``) is its own:

- ``etl``: :func:`etl.stream.export_stream` straight into a file — what
  ``fms export FORM --format F --out FILE`` and the export task do;
- ``api``: ``GET /api/v1/forms/{id}/export`` through the app (auth, the view,
  gzip as a browser would ask for it) with the streamed body read chunk by
  chunk over WSGI in-process, so the HTTP path is measured without a socket.

Goals (issue 8): 1M rows to CSV in under 15 s; peak RSS under 300 MB and the
same at 100k and 1M (flat memory). Every run must export exactly the seeded
row count, or the benchmark fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics import label, parse_size, progress, seeded_store  # noqa: E402
from common import host_facts, managed_processes, start_redis  # noqa: E402

GOALS = {"csv_1M_s": 15.0, "rss_peak_mb": 300.0, "rss_growth_100k_to_1M": 1.25}


def _rss_mb() -> float:
    """Peak resident set of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- the child: one export, its own process ------------------------------------------------------------

def child(data_dir: Path, redis_url: str, form_id: str, fmt: str, mode: str, out: Path) -> dict[str, Any]:
    from app.services import build
    from app.settings import Settings
    from app.store import SubmissionQuery
    from etl.stream import export_stream

    settings = Settings.from_env(environ={}, dotenv=None, env="test", data_dir=data_dir, redis_url=redis_url,
                                 secret_key="bench", sqlite_synchronous="OFF")
    svc = build(settings)
    form = svc.store.get_form(form_id)
    assert form is not None
    rows = [0]

    def count(n: int) -> None:
        rows[0] += n

    if mode == "api":
        client, headers = _api_client(settings, svc)
    rss_start = _current_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    size, encoding = 0, None
    with out.open("wb") as fh:
        if mode == "etl":
            for chunk in export_stream(svc.store, form, SubmissionQuery(form_id=form_id), fmt, tmp_dir=out.parent,
                                       on_rows=count):
                fh.write(chunk)
                size += len(chunk)
        else:
            resp = client.get(f"/api/v1/forms/{form_id}/export?format={fmt}", headers=headers, buffered=False)
            assert resp.status_code == 200, resp.status_code
            encoding = resp.headers.get("Content-Encoding")
            for chunk in resp.response:
                fh.write(chunk)
                size += len(chunk)
            resp.close()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"rows": rows[0] if mode == "etl" else None, "bytes": size, "content_encoding": encoding,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "rss_before_mb": round(rss_start, 1), "rss_peak_mb": round(_rss_mb(), 1)}


def _api_client(settings: Any, svc: Any) -> tuple[Any, dict[str, str]]:
    from app.factory import create_app
    from app.util import new_id, now_iso

    now = now_iso()
    user = {"id": new_id(), "username": f"bench-{new_id()}", "password_hash": "!unusable", "role": "admin", "active": 1,
            "created_at": now, "updated_at": now}
    svc.store.create_user(user)
    key, _ = svc.auth.create_api_key(user["id"], "manage", None, "bench", actor="bench")
    # What a browser sends; flask-compress streams deflate (it does not stream gzip).
    headers = {"Authorization": f"Bearer {key}", "Accept-Encoding": "gzip, deflate"}
    return create_app(settings, svc).test_client(), headers


def count_rows(path: Path, fmt: str, encoding: str | None) -> int:
    """Rows in an exported file, read back by the parent (decoded first when the API compressed it)."""
    import csv
    import zlib

    import pyarrow.parquet as pq

    if encoding is not None:
        if encoding not in {"deflate", "gzip"}:
            raise ValueError(f"cannot decode {encoding}")
        plain = path.with_name(path.name + ".plain")
        inflate = zlib.decompressobj(zlib.MAX_WBITS | (16 if encoding == "gzip" else 0))
        with path.open("rb") as src, plain.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(inflate.decompress(block))
            dst.write(inflate.flush())
        try:
            return count_rows(plain, fmt, None)
        finally:
            plain.unlink()
    if fmt == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open(encoding="utf-8", newline="") as text:
        return sum(1 for _ in csv.reader(text)) - 1  # records, not lines: fields may hold newlines


# --- the parent ------------------------------------------------------------------------------------------

def build_store(size: int, workdir: Path, redis_url: str, days: int, seed: int) -> tuple[Path, str, float]:
    """A fresh store with ``size`` seeded submissions of the benchmark form; its data dir, form id, seconds."""
    seeded = seeded_store(size, workdir, redis_url, days, seed)
    t0 = time.perf_counter()
    seeded.svc.store.close()
    return workdir / label(size), seeded.form["id"], seeded.seed_s + time.perf_counter() - t0


def run_child(data_dir: Path, redis_url: str, form_id: str, fmt: str, mode: str, out: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "child", "--data-dir", str(data_dir), "--redis-url", redis_url,
            "--form-id", form_id, "--format", fmt, "--mode", mode, "--out", str(out)]
    env = os.environ | {"FMS_LOG_LEVEL": "WARNING"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"export child failed ({fmt}, {mode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def goals(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals, checked at the sizes and modes that ran (CSV 1M time: the etl mode)."""
    runs = [r for s in report["sizes"].values() for r in s["runs"]]
    out: dict[str, Any] = {}
    csv_1m = [r["wall_s"] for r in runs if r["size"] == 1_000_000 and r["format"] == "csv" and r["mode"] == "etl"]
    if csv_1m:
        out["csv_1M_s"] = {"goal": GOALS["csv_1M_s"], "got": csv_1m[0], "met": csv_1m[0] < GOALS["csv_1M_s"],
                           "by": round(csv_1m[0] / GOALS["csv_1M_s"], 2)}
    peak = max((r["rss_peak_mb"] for r in runs), default=None)
    if peak is not None:
        out["rss_peak_mb"] = {"goal": GOALS["rss_peak_mb"], "got": peak, "met": peak < GOALS["rss_peak_mb"],
                              "by": round(peak / GOALS["rss_peak_mb"], 2)}
    growth = []
    for fmt_mode in {(r["format"], r["mode"]) for r in runs}:
        small = [r["rss_peak_mb"] for r in runs if (r["format"], r["mode"]) == fmt_mode and r["size"] == 100_000]
        big = [r["rss_peak_mb"] for r in runs if (r["format"], r["mode"]) == fmt_mode and r["size"] == 1_000_000]
        if small and big:
            growth.append(round(big[0] / small[0], 2))
    if growth:
        worst = max(growth)
        out["rss_growth_100k_to_1M"] = {"goal": GOALS["rss_growth_100k_to_1M"], "got": worst,
                                        "met": worst <= GOALS["rss_growth_100k_to_1M"]}
    return out


def print_runs(size: int, seed_s: float, runs: list[dict[str, Any]]) -> None:
    print(f"\n== {label(size)} rows (seeded in {seed_s:.1f} s)")
    for r in runs:
        print(f"  {r['format']:8} {r['mode']:4} {r['wall_s']:8.2f} s  cpu {r['cpu_s']:7.2f} s  "
              f"{r['rows_per_s'] or 0:>9} rows/s  {r['bytes'] / 1e6:8.1f} MB {r['content_encoding'] or '':7}  "
              f"RSS {r['rss_before_mb']:6.1f} -> peak {r['rss_peak_mb']:6.1f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1M", help="comma-separated row counts (k/M suffixes)")
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--modes", default="etl,api")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--workdir", type=Path, help="where stores and files go (default: a temp dir, removed)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fms-bench-export-"))
    report: dict[str, Any] = {"host": host_facts(), "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                              "sizes": {}, "goals": GOALS}
    try:
        with managed_processes() as procs:
            redis_url = start_redis(procs, workdir / "redis")
            for size in (parse_size(s) for s in args.sizes.split(",") if s.strip()):
                progress(f"{label(size)}: seeding")
                data_dir, form_id, seed_s = build_store(size, workdir, redis_url, args.days, args.seed)
                runs = []
                for fmt in args.formats.split(","):
                    for mode in args.modes.split(","):
                        progress(f"{label(size)}: {fmt} via {mode}")
                        out = workdir / f"{label(size)}-{mode}.{fmt}"
                        r = run_child(data_dir, redis_url, form_id, fmt, mode, out)
                        if r["rows"] is None:
                            r["rows"] = count_rows(out, fmt, r["content_encoding"])
                        r["rows_per_s"] = round(r["rows"] / r["wall_s"]) if r["wall_s"] else None
                        out.unlink(missing_ok=True)
                        if r["rows"] != size:
                            raise AssertionError(f"{fmt}/{mode} exported {r['rows']} rows, not {size}")
                        runs.append({"size": size, "format": fmt, "mode": mode, **r})
                report["sizes"][label(size)] = {"rows": size, "seed_s": round(seed_s, 1), "runs": runs}
                print_runs(size, seed_s, runs)
                shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report["goal_check"] = goals(report)
    for name, g in report["goal_check"].items():
        print(f"  goal {name:24} {g['goal']}: got {g['got']} -> {'met' if g['met'] else 'missed'}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


def child_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--form-id", required=True)
    parser.add_argument("--format", required=True)
    parser.add_argument("--mode", choices=["etl", "api"], required=True)
    parser.add_argument("--out", type=Path, required=True)
    a = parser.parse_args(argv)
    print(json.dumps(child(a.data_dir, a.redis_url, a.form_id, a.format, a.mode, a.out)))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("FMS_LOG_LEVEL", "WARNING")
    if sys.argv[1:2] == ["child"]:
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
