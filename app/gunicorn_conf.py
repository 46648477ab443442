"""Gunicorn settings, derived from the fms settings (read once, in the master).

Workers = 2 x cores + 1 (or FMS_WEB_WORKERS) with the threads of the tree's
``api`` row (app/process_tree.py), timeout 30 s. HUP reloads the
workers gracefully (systemd ``ExecReload``). Prometheus multiprocess files
live in the api's own directory, emptied before each start (the process
tree's first start step; under systemd the runtime directory is new anyway),
and a dead worker's live gauges are dropped (``child_exit``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from app.process_tree import process
from app.settings import load

_settings = load()
_metrics_dir = _settings.prometheus_dir
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)

bind = [f"{_settings.host}:{_settings.port}"]
workers = _settings.workers
worker_class = "gthread"
threads = process("api").threads  # the process tree's row; dropped from the master below
timeout = _settings.web_timeout
graceful_timeout = 25
keepalive = 5
backlog = 2048
max_requests = 20000
max_requests_jitter = 2000
accesslog = None  # the app logs one JSON line per request
errorlog = "-"
loglevel = "warning"
proc_name = "fms-api"
forwarded_allow_ips = "127.0.0.1,::1"
# Hand the bootstrap (migrations, first admin) to the master, once, before forking.
preload_app = False


def _forget_app_modules() -> None:
    """Drop ``app.*`` from the master's module cache.

    Workers are forked from the master; if it kept the release's modules that
    it imported to read this config, a reload (HUP) after a deploy would give
    new workers a mix of old and new code. Without them each worker imports
    the current release afresh.
    """
    keep = {__name__, "app"} if __name__.startswith("app.") else set()  # imported as a module (benchmarks)
    for name in [m for m in sys.modules if (m == "app" or m.startswith("app.")) and m not in keep]:
        del sys.modules[name]


def on_starting(server: Any) -> None:
    # Emptied by the process tree's start step (app.observability.multiproc), not
    # here: a gunicorn started by hand may share its directory with workers.
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    # Migrations and the first admin, once per start, in a child process: the
    # master must not import the application (see _forget_app_modules).
    subprocess.run([sys.executable, "-m", "app.cli", "bootstrap"], check=True, stdout=subprocess.DEVNULL)


def post_worker_init(worker: Any) -> None:
    # 414/431/400 that gunicorn answers before Flask get the API's JSON error
    # shape; imported here, in the worker, so the master stays app-free.
    from app.gunicorn_errors import install

    install()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


_forget_app_modules()
