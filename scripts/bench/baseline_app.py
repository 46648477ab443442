"""The bare Flask app that sets the ceiling fms is measured against.

It does the least a JSON API can do (parse a JSON body and answer JSON) so the
difference to fms is fms's own work: auth, validation, store, cache, logging,
metrics. This file is also its own gunicorn config (``-c``): the worker settings
are read from ``app/gunicorn_conf.py`` rather than copied, so the two servers
cannot drift apart. Start it from the repository root::

    FMS_PORT=8100 FMS_DATA_DIR=/tmp/bare gunicorn -c scripts/bench/baseline_app.py \
        --pythonpath scripts/bench baseline_app:application
"""

from __future__ import annotations

import json

from flask import Flask, Response, request

from app import gunicorn_conf as _fms

# --- gunicorn settings: the same as fms (bind follows FMS_HOST/FMS_PORT like fms) ------------
bind = _fms.bind
workers = _fms.workers
worker_class = _fms.worker_class
threads = _fms.threads
timeout = _fms.timeout
graceful_timeout = _fms.graceful_timeout
keepalive = _fms.keepalive
backlog = _fms.backlog
max_requests = _fms.max_requests
max_requests_jitter = _fms.max_requests_jitter
accesslog = None
errorlog = "-"
loglevel = "warning"
proc_name = "fms-bench-bare"

SMALL = json.dumps({"status": "ok", "service": "bare", "version": 1}).encode()

application = Flask(__name__)


@application.post("/echo")
def echo() -> Response:
    """Parse the JSON body and send it back re-serialised (the bare ingest path)."""
    data = request.get_json(force=True)
    return Response(json.dumps(data, separators=(",", ":")).encode(), status=200, mimetype="application/json")


@application.get("/small")
def small() -> Response:
    """A small constant JSON document (the bare read path)."""
    return Response(SMALL, status=200, mimetype="application/json")


@application.get("/ready")
def ready() -> Response:
    return Response(b'{"ready":true}', status=200, mimetype="application/json")
