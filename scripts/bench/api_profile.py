"""CPU milliseconds per request, by stage, for the API benchmark's two fms requests.

Why this exists: ``scripts/bench/api.py`` says *how much* slower fms is than a
bare Flask app under gunicorn; this says *where* the time goes, so each change
can be measured by the stage it targets. It runs the same requests as the
benchmark (the 10-field submission and the cached form GET, plus the bare
echo and small GET) in-process over WSGI, single-threaded, with a real
redis-server and a real SQLite file, INFO logging to a file and Prometheus in
multiprocess mode (as under gunicorn). Each stage is timed with
``time.thread_time`` (CPU of this thread only, so a busy neighbour inflates it
less than wall time); a stage's figure includes the stages nested in it, and
``rest (Flask, werkzeug)`` is the request's total minus the top-level stages.

    .venv/bin/python scripts/bench/api_profile.py              # 3000 requests each
    .venv/bin/python scripts/bench/api_profile.py -n 5000 --json /tmp/profile.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# (label, "module:attr.path", parent label or None). Targets that do not exist are skipped,
# so the same list profiles the code before and after a change.
STAGES: tuple[tuple[str, str, str | None], ...] = (
    ("  auth", "app.auth.service:AuthService.authenticate", "before_request"),
    ("require_form", "app.http:require_form", None),
    ("json_body", "app.http:json_body", None),
    ("submission create", "app.submissions.service:SubmissionService.create", None),
    ("  validate", "app.submissions.service:SubmissionService.validate_answers", "submission create"),
    ("  validate body", "app.validation:check", "submission create"),
    ("  store insert", "app.store.sqlite:SQLiteStore.insert_submission", "submission create"),
    ("cached form body", "app.forms.service:FormService.cached_json", None),
    ("json_response", "app.http:json_response", None),
    ("  access log", "app.observability.logging:access_log", "after_request"),
    ("  access log", "logging:Logger.info", "after_request"),
    # the fast paths in front of Flask (app/submissions/fastwrite.py, app/forms/fastread.py)
    ("fast write: caller (auth, form)", "app.submissions.fastwrite:FastSubmissions._caller", None),
    ("fast write: prepare (parse, validate)", "app.submissions.fastwrite:FastSubmissions._prepare", None),
    ("fast write: write (store insert)", "app.submissions.fastwrite:FastSubmissions._write", None),
    ("fast read: checks and body", "app.forms.fastread:CachedFormReads._body", None),
)
VIEW_MODULES = ("app.submissions.api", "app.forms.api", "app.factory")


class Stages:
    """Inclusive CPU time per label, counted once per outermost call of that label."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.depth: dict[str, int] = {}

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            outer = self.depth.get(label, 0) == 0
            self.depth[label] = self.depth.get(label, 0) + 1
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth[label] -= 1
                if outer:
                    self.cpu[label] = self.cpu.get(label, 0.0) + time.thread_time() - start
        timed.__wrapped__ = fn  # type: ignore[attr-defined]
        return timed


def _resolve(target: str) -> tuple[Any, str, Any] | None:
    module_name, _, path = target.partition(":")
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError:
        return None
    *parents, attr = path.split(".")
    for name in parents:
        owner = getattr(owner, name, None)
        if owner is None:
            return None
    fn = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr, None)
    return (owner, attr, fn) if fn is not None else None


def install(stages: Stages) -> None:
    """Wrap every stage target, and the names views imported from ``app.http`` too."""
    for label, target, _parent in STAGES:
        found = _resolve(target)
        if found is None:
            continue
        owner, attr, fn = found
        wrapped = stages.wrap(label, fn)
        setattr(owner, attr, wrapped)
        for mod_name in VIEW_MODULES:
            mod = sys.modules.get(mod_name) or importlib.import_module(mod_name)
            if getattr(mod, attr, None) is fn:
                setattr(mod, attr, wrapped)


def wrap_hooks(app: Any, stages: Stages) -> None:
    """Time the app's before/after-request hooks (auth, access log, metrics, compression) as two stages."""
    for label, funcs in (("before_request", app.before_request_funcs), ("after_request", app.after_request_funcs)):
        for key, hooks in funcs.items():
            funcs[key] = [stages.wrap(label, h) for h in hooks]


def _environ(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> dict[str, Any]:
    from werkzeug.test import EnvironBuilder

    return EnvironBuilder(path=path, method=method, data=body, headers=headers,
                          content_type="application/json" if body else None).get_environ()


def _drive(app: Any, environs: Iterable[dict[str, Any]]) -> None:
    def start_response(_status: str, _headers: Any, _exc: Any = None) -> None:
        return None

    for env in environs:
        out = app(env, start_response)
        b"".join(out)
        close = getattr(out, "close", None)
        if close:
            close()


def measure(app: Any, make: Callable[[], dict[str, Any]], n: int, stages: Stages | None) -> dict[str, float]:
    """CPU ms per request in total and per stage for ``n`` requests (after 200 unmeasured)."""
    _drive(app, (make() for _ in range(200)))
    environs = [make() for _ in range(n)]
    if stages is not None:
        stages.cpu.clear()
    start = time.thread_time()
    _drive(app, environs)
    total = time.thread_time() - start
    out = {"total": 1000 * total / n}
    if stages is not None:
        for label, cpu in stages.cpu.items():
            out[label] = 1000 * cpu / n
        top = sum(cpu for label, cpu in stages.cpu.items() if not label.startswith(" "))
        out["rest (Flask, werkzeug)"] = 1000 * (total - top) / n
    return {k: round(v, 4) for k, v in out.items()}


def run(n: int, synchronous: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fms-api-profile-"))
    # First: the bare app's config imports app.gunicorn_conf, which drops app.* from sys.modules
    # and points PROMETHEUS_MULTIPROC_DIR at the data dir; fms is imported afresh after it.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import baseline_app

    bare = baseline_app.application
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "prom")
    (tmp / "prom").mkdir()
    from scripts.bench.api import ANSWERS, ECHO_BODY, FORM_SCHEMA
    from scripts.bench.common import managed_processes, start_redis

    with managed_processes() as procs:
        redis_url = start_redis(procs, tmp / "redis")
        from app.factory import create_app
        from app.observability import logging as fms_logging
        from app.settings import Settings

        settings = Settings.from_env(environ={}, dotenv=None, env="production", data_dir=tmp / "data",
                                     redis_url=redis_url, secret_key="profile", sqlite_synchronous=synchronous)
        app = create_app(settings)
        log = (tmp / "fms.log").open("w")
        fms_logging.configure("api", "INFO", "", stream=log)
        app.extensions["fms"].store.migrate()
        app.extensions["fms"].auth.bootstrap_admin("bench:benchpassword1")
        client = app.test_client()
        token = client.post("/api/v1/auth/login",
                            json={"username": "bench", "password": "benchpassword1"}).get_json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        form_id = client.post("/api/v1/forms", json={"title": "b", "schema": FORM_SCHEMA},
                              headers=auth).get_json()["id"]
        body = json.dumps({"answers": ANSWERS}).encode()
        echo = json.dumps(ECHO_BODY).encode()
        stages = Stages()
        install(stages)
        wrap_hooks(app, stages)
        results = {
            "bare_post": measure(bare, lambda: _environ("POST", "/echo", echo, {}), n, None),
            "fms_post": measure(app, lambda: _environ("POST", f"/api/v1/forms/{form_id}/submissions", body, auth),
                                n, stages),
            "bare_get": measure(bare, lambda: _environ("GET", "/small", None, {}), n, None),
            "fms_get": measure(app, lambda: _environ("GET", f"/api/v1/forms/{form_id}", None, auth), n, stages),
        }
        log.close()
    return {"requests_each": n, "sqlite_synchronous": synchronous, "load_average": os.getloadavg(),
            "cpu_ms_per_request": results}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=3000, help="measured requests per scenario (default 3000)")
    p.add_argument("--sqlite-synchronous", default="FULL")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    os.chdir(Path(__file__).resolve().parents[2])
    doc = run(args.n, args.sqlite_synchronous)
    print(f"load average {doc['load_average'][0]:.2f}; CPU ms per request ({args.n} requests each)")
    for name, stages in doc["cpu_ms_per_request"].items():
        print(f"{name}: {stages['total']:.3f}")
        for label, ms in stages.items():
            if label != "total":
                print(f"    {label:<24} {ms:.3f}")
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
