"""API benchmark: fms against a bare Flask app, same gunicorn settings, same client.

One run starts a real redis-server, the bare app (``scripts/bench/baseline_app.py``)
and fms under gunicorn, loads each with wrk (64 connections, 2 threads, fixed
duration after a warm-up) and reports req/s, p50/p99, errors and the ratios
the core issue asks for:

* submission ingest (POST to a 10-field form) >= 60 % of the bare POST echo's req/s,
  and its p99 <= 2 x the bare POST's p99;
* cached form GET >= 80 % of the bare small-JSON GET.

Why ratios and not absolute numbers: the bare app is the ceiling of this
machine + Python + Flask + gunicorn; the ratio is what fms itself costs. On a
machine shared with others the load moves within a run, so the measured time
of each scenario is cut into ``--rounds`` slices run in turn (bare POST, fms
POST, bare GET, fms GET, then again): both sides of a ratio see the same
neighbours. Req/s adds up the slices; p50/p99 are the median over the slices
(``p99_max_ms`` the worst); the load average is recorded per slice.

``--check`` exits 1 when a goal is missed (errors count as a miss); ``--check-report-only``
evaluates and prints the same, and exits 0 (what CI's smoke test runs).

Run from the repository root::

    .venv/bin/python scripts/bench/api.py                 # 15 s per scenario
    .venv/bin/python scripts/bench/api.py --duration 5 --out /tmp/api.json
    .venv/bin/python scripts/bench/api.py --check          # exit 1 when a goal is missed

Every process it starts is stopped on exit, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``scripts.bench`` and ``app`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.bench.common import (
    ROOT,
    VENV_BIN,
    Processes,
    WrkResult,
    free_port,
    host_facts,
    http_json,
    managed_processes,
    process_cpu_seconds,
    run_wrk,
    start_redis,
    wait_http_ok,
    wrk_script,
)

GOAL_INGEST_RATIO = 0.60
GOAL_INGEST_P99_VS_BARE = 2.0  # fms POST p99 at most twice the bare POST's, same run
GOAL_GET_RATIO = 0.80
SCENARIOS = ("bare_post", "fms_post", "bare_get", "fms_get")  # run order: pairs back to back
ADMIN_USER, ADMIN_PASSWORD = "bench", "benchpassword1"

# Ten fields of the usual kinds: strings with limits, integers, a number, an enum,
# a boolean, formats (email, date) and a pattern.
FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "email", "topic", "message"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "email": {"type": "string", "format": "email"},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
        "rating": {"type": "number", "minimum": 0, "maximum": 5},
        "topic": {"enum": ["billing", "bug", "feature", "other"]},
        "subscribed": {"type": "boolean"},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "visit_date": {"type": "string", "format": "date"},
        "message": {"type": "string", "minLength": 1, "maxLength": 4000},
    },
}
ANSWERS: dict[str, Any] = {
    "name": "Ada Lovelace", "email": "ada@example.org", "age": 36, "quantity": 3, "rating": 4.5,
    "topic": "feature", "subscribed": True, "country": "GB", "visit_date": "2024-05-17",
    "message": ("The analytical engine weaves algebraic patterns just as the Jacquard loom weaves "
                "flowers and leaves. ") * 6,
}
# The bare echo gets a JSON document of about the same size as the submission (~1 KB).
ECHO_BODY: dict[str, Any] = {"answers": ANSWERS, "meta": {"source": "bench", "ref": "x" * 120}}


@dataclass(frozen=True)
class Scenario:
    name: str
    url: str
    method: str
    headers: dict[str, str]
    body: str | None
    server_pids: tuple[int, ...] = ()  # whose CPU counts as the cost of this scenario


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=15.0, help="seconds per measured scenario (default 15)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of unmeasured load first (default 3; 0 = none)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--out", type=Path, default=ROOT / "bench-results" / "api.json", help="JSON result file")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma list from {','.join(SCENARIOS)}")
    p.add_argument("--sqlite-synchronous", choices=["OFF", "NORMAL", "FULL", "EXTRA"], default=None,
                   help="pass FMS_SQLITE_SYNCHRONOUS to fms (default: fms's own default, FULL)")
    p.add_argument("--keep-logs", type=Path, default=None, help="copy server logs into this directory")
    p.add_argument("--gunicorn-arg", action="append", default=[], metavar="ARG",
                   help="extra gunicorn command-line argument for both servers, e.g. --gunicorn-arg=--threads=8 "
                        "(a layout experiment; the shipped layout is app/process_tree.py's)")
    p.add_argument("--rounds", type=int, default=3,
                   help="slices per scenario, run in turn with the others (default 3; at most one per second)")
    check = p.add_mutually_exclusive_group()
    check.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    check.add_argument("--check-report-only", action="store_true",
                       help="evaluate and print the goals like --check, but exit 0 (CI smoke)")
    args = p.parse_args(argv)
    args.rounds = max(1, min(args.rounds, int(args.duration)))
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SCENARIOS))
    if unknown:
        p.error(f"unknown scenarios: {', '.join(unknown)}")
    args.scenarios = [s for s in SCENARIOS if s in wanted]
    return args


def server_env(data_dir: Path, port: int, redis_url: str | None, synchronous: str | None = None) -> dict[str, str]:
    """The environment both gunicorns get: ours minus any fms settings, plus the run's own.

    Log level stays at the default INFO so fms pays for its per-request access log line,
    as it does in production; the lines go to a file, not a terminal.
    """
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("FMS_") or k in {"REDIS_URL", "PROMETHEUS_MULTIPROC_DIR"})}
    if "FMS_WEB_WORKERS" in os.environ:  # the smoke test shrinks both servers alike
        env["FMS_WEB_WORKERS"] = os.environ["FMS_WEB_WORKERS"]
    env.update({"FMS_DATA_DIR": str(data_dir), "FMS_PORT": str(port), "FMS_HOST": "127.0.0.1",
                "PYTHONUNBUFFERED": "1"})
    if redis_url:
        env["REDIS_URL"] = redis_url
        env["FMS_BOOTSTRAP_ADMIN"] = f"{ADMIN_USER}:{ADMIN_PASSWORD}"
    if synchronous:
        env["FMS_SQLITE_SYNCHRONOUS"] = synchronous
    return env


def warm_up(scenario: Scenario, args: argparse.Namespace) -> None:
    if args.warmup > 0:
        run_wrk(scenario.url, wrk_script(scenario.method, scenario.headers, scenario.body), args.warmup,
                args.connections, args.threads)


def measure_slice(scenario: Scenario, seconds: float, args: argparse.Namespace) -> tuple[WrkResult, str, float]:
    """One slice of a scenario: wrk's result (with server CPU per request), its report, the load average."""
    script = wrk_script(scenario.method, scenario.headers, scenario.body)
    load = os.getloadavg()[0]
    cpu_before = process_cpu_seconds(list(scenario.server_pids))
    result, report = run_wrk(scenario.url, script, seconds, args.connections, args.threads)
    cpu = process_cpu_seconds(list(scenario.server_pids)) - cpu_before
    result.server_cpu_ms_per_request = round(1000 * cpu / result.requests, 3) if result.requests else None
    return result, report, load


def combine(slices: list[WrkResult]) -> WrkResult:
    """One result for a scenario's slices: counts add up, latency percentiles are the slices' median."""
    requests = sum(r.requests for r in slices)
    duration = sum(r.duration_s for r in slices)
    cpu = [r.server_cpu_ms_per_request * r.requests for r in slices if r.server_cpu_ms_per_request is not None]
    socket_errors = {k: sum(r.socket_errors.get(k, 0) for r in slices) for k in slices[0].socket_errors}
    return replace(
        slices[0], requests=requests, duration_s=round(duration, 3),
        rps=round(requests / duration, 1) if duration else 0.0,
        p50_ms=statistics.median(r.p50_ms for r in slices), p90_ms=statistics.median(r.p90_ms for r in slices),
        p99_ms=statistics.median(r.p99_ms for r in slices),
        mean_ms=round(sum(r.mean_ms * r.requests for r in slices) / requests, 3) if requests else 0.0,
        max_ms=max(r.max_ms for r in slices), non_2xx=sum(r.non_2xx for r in slices), socket_errors=socket_errors,
        bytes_read=sum(r.bytes_read for r in slices),
        server_cpu_ms_per_request=round(sum(cpu) / requests, 3) if cpu and requests else None,
    )


def run_interleaved(scenarios: dict[str, Scenario], args: argparse.Namespace, procs: Processes) -> dict[str, Any]:
    """Warm each scenario up, then run ``args.rounds`` rounds of one slice of every scenario in turn."""
    for name in args.scenarios:
        warm_up(scenarios[name], args)
    seconds = args.duration / args.rounds
    slices: dict[str, list[tuple[WrkResult, str, float]]] = {name: [] for name in args.scenarios}
    for round_no in range(args.rounds):
        for name in args.scenarios:
            result, report, load = measure_slice(scenarios[name], seconds, args)
            slices[name].append((result, report, load))
            print(f"  round {round_no + 1}/{args.rounds} {name}: {result.rps:,.0f} req/s  p50 {result.p50_ms:.2f} ms"
                  f"  p99 {result.p99_ms:.2f} ms  CPU {result.server_cpu_ms_per_request} ms/req"
                  f"  errors {result.errors_total}  load {load:.1f}", flush=True)
            procs.check_alive()
    results: dict[str, Any] = {}
    for name, parts in slices.items():
        combined = combine([r for r, _, _ in parts])
        results[name] = (combined, "\n".join(report for _, report, _ in parts), parts)
    return results


def start_bare(procs: Processes, tmp: Path, extra: list[str]) -> dict[str, Scenario]:
    """The bare app under gunicorn (fms's worker settings); returns its scenarios."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(VENV_BIN / "gunicorn"), "-c", "scripts/bench/baseline_app.py", *extra,
           "--pythonpath", "scripts/bench", "baseline_app:application"]
    master = procs.start("bare gunicorn", cmd, tmp / "bare.log", env=server_env(tmp / "bare", port, None)).pid
    wait_http_ok(f"{base}/ready", procs, 60, "the bare app to answer /ready")
    status, echoed = http_json("POST", f"{base}/echo", ECHO_BODY)
    if status != 200 or echoed != ECHO_BODY:
        raise RuntimeError(f"bare /echo is broken: {status} {echoed!r}")
    return {
        "bare_post": Scenario("bare_post", f"{base}/echo", "POST", {"Content-Type": "application/json"},
                              json.dumps(ECHO_BODY), (master,)),
        "bare_get": Scenario("bare_get", f"{base}/small", "GET", {}, None, (master,)),
    }


def start_fms(procs: Processes, tmp: Path, synchronous: str | None,
              extra: list[str]) -> tuple[dict[str, Scenario], str, str]:
    """redis-server and fms under its own gunicorn config; returns scenarios, token, submissions URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    redis_url = start_redis(procs, tmp / "redis")
    cmd = [str(VENV_BIN / "gunicorn"), "-c", "app/gunicorn_conf.py", *extra, "app.wsgi:application"]
    env = server_env(tmp / "fms", port, redis_url, synchronous)
    master = procs.start("fms gunicorn", cmd, tmp / "fms.log", env=env).pid
    wait_http_ok(f"{base}/ready", procs, 60, "fms to answer /ready")
    token, form_id = setup_fms(base)
    auth = {"Authorization": f"Bearer {token}"}
    submit_url = f"{base}/api/v1/forms/{form_id}/submissions"
    scenarios = {
        "fms_post": Scenario("fms_post", submit_url, "POST", auth | {"Content-Type": "application/json"},
                             json.dumps({"answers": ANSWERS}), (master,)),
        "fms_get": Scenario("fms_get", f"{base}/api/v1/forms/{form_id}", "GET", auth, None, (master,)),
    }
    return scenarios, token, submit_url


def setup_fms(base: str) -> tuple[str, str]:
    """Log in and create the 10-field form; returns (token, form id)."""
    status, body = http_json("POST", f"{base}/api/v1/auth/login", {"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    if status != 200:
        raise RuntimeError(f"login failed: {status} {body!r}")
    token = body["token"]
    form = {"title": "Benchmark intake", "description": "ten fields", "schema": FORM_SCHEMA}
    status, body = http_json("POST", f"{base}/api/v1/forms", form, token)
    if status != 201:
        raise RuntimeError(f"creating the form failed: {status} {body!r}")
    form_id = body["id"]
    status, body = http_json("POST", f"{base}/api/v1/forms/{form_id}/submissions", {"answers": ANSWERS}, token)
    if status != 201:  # a 422 here would turn the benchmark into a validation-error benchmark
        raise RuntimeError(f"the benchmark submission is rejected: {status} {body!r}")
    status, body = http_json("GET", f"{base}/api/v1/forms/{form_id}", token=token)
    if status != 200 or body.get("id") != form_id:
        raise RuntimeError(f"reading the form failed: {status} {body!r}")
    return token, form_id


def count_log_errors(log: Path) -> int:
    """Lines fms logged at ERROR or above (or tracebacks) during the run."""
    if not log.exists():
        return 0
    pattern = re.compile(r'"level":\s*"(ERROR|CRITICAL)"|^Traceback|\[(ERROR|CRITICAL)\]')
    return sum(1 for line in log.read_text(errors="replace").splitlines() if pattern.search(line))


def run_all(tmp: Path, args: argparse.Namespace, results: dict[str, Any], checks: dict[str, Any]) -> None:
    """Start both servers, then run each bare/fms pair back to back.

    Both stay up for the whole run and the scenarios run in turn, slice by slice
    (:func:`run_interleaved`), so a noisy neighbour skews both sides of a ratio alike.
    """
    with managed_processes() as procs:
        scenarios: dict[str, Scenario] = {}
        if any(s.startswith("bare_") for s in args.scenarios):
            scenarios |= start_bare(procs, tmp, args.gunicorn_arg)
        token = submit_url = ""
        if any(s.startswith("fms_") for s in args.scenarios):
            fms, token, submit_url = start_fms(procs, tmp, args.sqlite_synchronous, args.gunicorn_arg)
            scenarios |= fms
        results.update(run_interleaved(scenarios, args, procs))
        if "fms_post" in args.scenarios:
            status, body = http_json("GET", f"{submit_url}?include_total=true&limit=1", token=token)
            checks["fms_submissions_stored"] = body.get("total") if status == 200 else f"error {status}"
    log = tmp / "fms.log"
    checks["fms_log_error_lines"] = count_log_errors(log)
    checks["bare_log_error_lines"] = count_log_errors(tmp / "bare.log")
    checks["fms_log_bytes"] = log.stat().st_size if log.exists() else 0


def ratio(num: dict[str, Any], name_a: str, name_b: str) -> float | None:
    a, b = num.get(name_a), num.get(name_b)
    if a is None or b is None or b[0].rps == 0:
        return None
    return round(a[0].rps / b[0].rps, 3)


def cpu_ratio(results: dict[str, Any], fms: str, bare: str) -> float | None:
    """Bare CPU per request / fms CPU per request: the req/s ratio a CPU-bound, quiet box would show."""
    if fms not in results or bare not in results:
        return None
    a, b = results[fms][0].server_cpu_ms_per_request, results[bare][0].server_cpu_ms_per_request
    return round(b / a, 3) if a and b else None


def round_ratios(results: dict[str, Any], fms: str, bare: str) -> list[float]:
    """fms/bare req/s per round (the slices of one round ran back to back)."""
    if fms not in results or bare not in results:
        return []
    pairs = zip(results[fms][2], results[bare][2], strict=True)
    return [round(f.rps / b.rps, 3) for (f, _, _), (b, _, _) in pairs if b.rps]


def evaluate(results: dict[str, Any]) -> dict[str, Any]:
    ingest = ratio(results, "fms_post", "bare_post")
    cached = ratio(results, "fms_get", "bare_get")
    p99 = results["fms_post"][0].p99_ms if "fms_post" in results else None
    bare_p99 = results["bare_post"][0].p99_ms if "bare_post" in results else None
    p99_ratio = round(p99 / bare_p99, 3) if p99 is not None and bare_p99 else None
    errors = {name: r.errors_total for name, (r, _, _) in results.items()}
    ingest_ok = (ingest is not None and p99_ratio is not None and ingest >= GOAL_INGEST_RATIO
                 and p99_ratio <= GOAL_INGEST_P99_VS_BARE)
    get_ok = cached is not None and cached >= GOAL_GET_RATIO
    return {
        "ratios": {"ingest_vs_bare_post": ingest, "cached_get_vs_bare_get": cached,
                   "ingest_p99_vs_bare_post_p99": p99_ratio,
                   "ingest_cpu_cost_ratio": cpu_ratio(results, "fms_post", "bare_post"),
                   "cached_get_cpu_cost_ratio": cpu_ratio(results, "fms_get", "bare_get"),
                   "ingest_per_round": round_ratios(results, "fms_post", "bare_post"),
                   "cached_get_per_round": round_ratios(results, "fms_get", "bare_get")},
        "goals": {
            "ingest_ratio_min": GOAL_INGEST_RATIO, "ingest_p99_vs_bare_max": GOAL_INGEST_P99_VS_BARE,
            "cached_get_ratio_min": GOAL_GET_RATIO,
            "ingest_ok": ingest_ok, "cached_get_ok": get_ok, "no_errors": not any(errors.values()),
            "met": ingest_ok and get_ok and not any(errors.values()),
        },
    }


def print_table(results: dict[str, Any], verdict: dict[str, Any]) -> None:
    print()
    print(f"{'scenario':<11} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'non-2xx':>8} "
          f"{'sock err':>8} {'CPU ms/req':>10}")
    for name in SCENARIOS:
        if name not in results:
            continue
        r: WrkResult = results[name][0]
        print(f"{name:<11} {r.rps:>10,.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.max_ms:>8.1f} "
              f"{r.non_2xx:>8} {sum(r.socket_errors.values()):>8} {r.server_cpu_ms_per_request or 0:>10.3f}")
    ratios, goals = verdict["ratios"], verdict["goals"]

    def fmt(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.0%}"

    p99 = ratios["ingest_p99_vs_bare_post_p99"]
    print()
    print(f"ingest     fms POST / bare POST = {fmt(ratios['ingest_vs_bare_post'])} "
          f"(goal >= {GOAL_INGEST_RATIO:.0%}; per round {ratios['ingest_per_round']}), "
          f"p99 = {'n/a' if p99 is None else f'{p99:.2f}'} x bare p99 "
          f"(goal <= {GOAL_INGEST_P99_VS_BARE:g}x) -> {'MET' if goals['ingest_ok'] else 'NOT MET'}")
    print(f"cached GET fms GET / bare GET   = {fmt(ratios['cached_get_vs_bare_get'])} "
          f"(goal >= {GOAL_GET_RATIO:.0%}; per round {ratios['cached_get_per_round']}) "
          f"-> {'MET' if goals['cached_get_ok'] else 'NOT MET'}")
    print(f"CPU cost   bare/fms CPU per request: ingest {fmt(ratios['ingest_cpu_cost_ratio'])}, "
          f"cached GET {fmt(ratios['cached_get_cpu_cost_ratio'])} (the ratio on a quiet, CPU-bound machine)")
    if not goals["no_errors"]:
        print("WARNING: some scenarios had non-2xx responses or socket errors (see JSON)")


def gunicorn_settings() -> dict[str, Any]:
    """The worker settings both servers ran with (read from fms's own config)."""
    from app import gunicorn_conf as conf

    return {"workers": conf.workers, "worker_class": conf.worker_class, "threads": conf.threads,
            "keepalive": conf.keepalive, "backlog": conf.backlog, "timeout": conf.timeout}


def gunicorn_settings_isolated() -> dict[str, Any]:
    """Read the gunicorn settings without leaking PROMETHEUS_MULTIPROC_DIR into this process."""
    saved = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    try:
        return gunicorn_settings()
    finally:
        if saved is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = saved


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.chdir(ROOT)
    results: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    started = dt.datetime.now(dt.UTC)
    load_start = list(os.getloadavg())
    host = host_facts()  # now, so its load average is the one at start
    with tempfile.TemporaryDirectory(prefix="fms-bench-api-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            run_all(tmp, args, results, checks)
        finally:
            if args.keep_logs:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for name in ("bare.log", "fms.log"):
                    if (tmp / name).exists():
                        (args.keep_logs / name).write_bytes((tmp / name).read_bytes())
    verdict = evaluate(results)
    print_table(results, verdict)
    load_end = os.getloadavg()
    doc = {
        "benchmark": "api",
        "started_at": started.isoformat(timespec="seconds"),
        "host": host,
        "config": {
            "duration_s": args.duration, "rounds": args.rounds, "warmup_s": args.warmup,
            "connections": args.connections,
            "wrk_threads": args.threads, "gunicorn": gunicorn_settings_isolated(),
            "gunicorn_extra_args": args.gunicorn_arg,
            "fms_log_level": "INFO (default; access log line per request)",
            "sqlite_synchronous": args.sqlite_synchronous or "FULL (default)",
            "echo_body_bytes": len(json.dumps(ECHO_BODY)),
            "submission_body_bytes": len(json.dumps({"answers": ANSWERS})),
            "form_fields": len(FORM_SCHEMA["properties"]),
        },
        "load_average": {"start": load_start, "end": list(load_end),
                         "per_slice": {name: [load for _, _, load in parts]
                                       for name, (_, _, parts) in results.items()}},
        "scenarios": {name: r.as_dict() | {"slices": [s.as_dict() for s, _, _ in parts]}
                      for name, (r, _, parts) in results.items()},
        "wrk_reports": {name: report for name, (_, report, _) in results.items()},
        **verdict,
        "checks": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {args.out} (load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end)")
    status = exit_status(verdict, args.check)
    if status:
        print("check: a goal is missed (see above)", file=sys.stderr)
    return status


def exit_status(verdict: dict[str, Any], check: bool) -> int:
    """1 when ``--check`` was asked for and a goal is missed (errors count as a miss), else 0."""
    return 1 if check and not verdict["goals"]["met"] else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; all benchmark processes stopped", file=sys.stderr)
        sys.exit(130)
