"""The module ``dramatiq tasks.worker`` imports in every worker process.

Order matters: the Prometheus multiprocess directory must be in the
environment before prometheus_client is first imported, so each worker
process writes its own metric files (aggregated by the API's ``/metrics``)
instead of binding a port.
"""

from __future__ import annotations

import logging
import os

from app.settings import load

settings = load()
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.prometheus_dir)
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from app.observability import logging as fms_logging  # noqa: E402 - after the metrics dir is set
from tasks.broker import configure  # noqa: E402
from tasks.registry import load_actors  # noqa: E402

fms_logging.configure(os.environ.get("FMS_PROCESS", "worker"), settings.log_level, settings.log_levels)
for _handler in [h for h in logging.getLogger().handlers if not getattr(h, "_fms", False)]:
    logging.getLogger().removeHandler(_handler)  # dramatiq's plain-text handler: one JSON line per event
broker = configure(settings)

load_actors()
