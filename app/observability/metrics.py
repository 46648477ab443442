"""Prometheus metrics shared by every fms process.

In gunicorn each worker is its own process, so the client runs in
multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` is set (by the gunicorn
config) before this module is imported and ``/metrics`` aggregates the
files of every worker. Without that variable metrics stay in-process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter(
    "fms_http_requests_total", "HTTP requests by endpoint, method and status.", ["endpoint", "method", "status"]
)
HTTP_SECONDS = Histogram(
    "fms_http_request_seconds", "HTTP request latency by endpoint.", ["endpoint", "method"], buckets=LATENCY_BUCKETS
)
HTTP_ERRORS = Counter("fms_http_errors_total", "Responses with an error code, by code.", ["endpoint", "code"])
CACHE_EVENTS = Counter("fms_cache_requests_total", "Cache lookups by namespace and result.", ["namespace", "result"])
STORE_SECONDS = Histogram(
    "fms_store_query_seconds", "Store operation latency.", ["backend", "operation"], buckets=LATENCY_BUCKETS
)


_REQUEST_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count one HTTP request and its latency (the children of each label set looked up once per process).

    Why: ``labels()`` validates and hashes its arguments on every call; two of
    them per request were a visible part of the access hook's CPU.
    """
    key = (endpoint, method, status)
    children = _REQUEST_CHILDREN.get(key)
    if children is None:
        if len(_REQUEST_CHILDREN) > 4096:  # unmatched paths are one label; this only bounds odd cases
            _REQUEST_CHILDREN.clear()
        children = _REQUEST_CHILDREN[key] = (HTTP_REQUESTS.labels(endpoint, method, str(status)),
                                             HTTP_SECONDS.labels(endpoint, method))
    children[0].inc()
    children[1].observe(seconds)


class _FilesCollector(Collector):
    """The multiprocess files of several directories, merged as one: a metric that processes of
    both write (the store's query time, say) comes out once, summed, never as two families."""

    def __init__(self, dirs: Iterable[str | os.PathLike[str]]) -> None:
        seen: dict[str, None] = {}
        for d in dirs:
            seen.setdefault(os.path.realpath(d), None)  # the same directory twice would count twice
        self.dirs = list(seen)

    def collect(self) -> Iterable[Metric]:
        files = [str(f) for d in self.dirs for f in sorted(Path(d).glob("*.db"))]
        return multiprocess.MultiProcessCollector.merge(files, accumulate=True)


def exposition(extra: Iterable[Collector] = (), also_dirs: Iterable[str | os.PathLike[str]] = ()) -> tuple[bytes, str]:
    """The text format for ``/metrics``, aggregated across processes when needed.

    ``extra`` collectors read their values at scrape time from elsewhere (the
    workers' heartbeats in Redis) and are appended to the process metrics.
    ``also_dirs``: the other processes' multiprocess directories (one per process
    of the tree, app.observability.multiproc), merged with this one's in one pass:
    a directory listed twice counts once, a metric written by several comes out once.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        dirs = [os.environ["PROMETHEUS_MULTIPROC_DIR"], *(d for d in also_dirs if os.path.isdir(d))]
        registry.register(_FilesCollector(dirs))
        body = generate_latest(registry)
    else:
        body = generate_latest()
    collectors = list(extra)
    if collectors:
        scraped = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            scraped.register(collector)
        body += generate_latest(scraped)
    return body, CONTENT_TYPE_LATEST
