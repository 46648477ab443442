"""Form summaries and time series: argument parsing, the Redis cache, the engine call.

No Flask here. The filters are parsed by the list endpoint's own parser
(:func:`app.submissions.query.parse_list_args`), so a filter means exactly
what it means on ``GET /forms/{id}/submissions`` and a bad one is the same
400 naming the parameter.

Caching: a result is stored in Redis for ``FMS_ANALYTICS_CACHE_TTL`` under
a key made of the form and its version, the normalised arguments, what the
caller may see, and the form's *data version* — a counter every submission
write moves (``AnalyticsStore.data_version``). The version is read before
computing, so a new submission makes the next request compute afresh and a
result is never cached under a version older than the data it saw. With
Redis down the cache misses and every request computes.

Stale while revalidate: each result is also stored as the *latest* one under
the same key without the data version, with the version it saw. A request
whose exact entry is missing gets the latest one as fresh if it saw this
data or newer; otherwise a task is claimed (on the key without the data
version, so at most one runs per form, arguments and hidden fields), and if
its result is not in the cache within the wait the latest one is answered
with ``stale: true``. Why: on a form that gets submissions faster than a task
takes, the exact key moves on every request, which would claim a task per GET
and answer 202 forever.

Where an uncached result is computed (issue 10, memory): by default on the
``analytics`` queue, never in the API (``FMS_ANALYTICS_INLINE_MAX_ROWS=0``),
the request waiting up to ``FMS_ANALYTICS_QUEUE_WAIT`` for the worker to cache
it (a plain 200 then) before it answers 202. With a limit set, the API's service
(built with a dispatcher) computes it inline when the form holds at
most ``FMS_ANALYTICS_INLINE_MAX_ROWS`` submissions (the store's index count,
:meth:`AnalyticsStore.form_row_count`), and then under the host's analytics
lock (:mod:`app.analytics.gate`), so no two API workers add their peaks. A
bigger form, or a small one whose lock wait ran out, becomes one tracked
``analytics.summary`` task per result on the ``analytics`` queue (whose
worker has 1 GB): :class:`Pending` carries its id, a second request for the
same result while it runs gets the same id (a claim in Redis that the task
drops when it ends, :mod:`app.analytics.claims`), and the task writes the
very cache entry the next GET reads. At most ``FMS_ANALYTICS_MAX_PENDING``
such tasks are in flight (``FMS_ANALYTICS_MAX_PENDING_PER_FORM`` per form);
past that a miss answers the latest result, stale, or 503 ``analytics_busy``.
Without Redis nothing can be claimed or cached, so the API computes inline
under the lock as before (503 ``analytics_busy`` once the wait runs out).
The CLI, the benchmarks and the task itself build the service without a
dispatcher and always compute.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType

from app.analytics.claims import CLAIM_TTL_S, Claims, claim_ttl
from app.analytics.gate import AnalyticsBusy, HeavyGate, lock_path
from app.cache import Cache
from app.dispatch import Dispatcher
from app.errors import BadRequest
from app.settings import Settings
from app.store import FmsStore, Record, SubmissionQuery
from app.submissions.query import FILTER_RE, CursorCodec, parse_list_args, refuse_hidden
from app.util import canonical_json, new_id, sha256_hex
from etl import analytics_spec as spec  # the argument checks: neither DuckDB nor pyarrow


def _analytics() -> ModuleType:
    """:mod:`etl.analytics`, imported by the first result computed here: it pulls in DuckDB and pyarrow
    (tens of MB per process), which an API worker that only checks arguments and queues should not carry."""
    from etl import analytics

    return analytics


log = logging.getLogger("app.analytics")
NAMESPACE = "analytics"
LATEST_NAMESPACE = "analytics-latest"  # key without data version -> {"d": data version, "r": result}
ACTOR = "analytics.summary"
KINDS = ("summary", "timeseries")
FORMATS = ("json", "csv")
_FILTER_PARAMS = {"created_after", "created_before"}
AWAIT_POLL_S = 0.05  # how often a request waiting on a queued result looks in the cache (one Redis GET)
RETRY_AFTER_S = 5  # what a 202 tells the client to wait: a queued 500k-row split summary took ~18 s


class CacheWriteFailed(RuntimeError):
    """The task's result could not be written to Redis (the task retries, then fails, rather than succeed)."""


@dataclass(frozen=True)
class Pending:
    """The result is being computed on the ``analytics`` queue by task ``task_id``: answer 202."""

    task_id: str


@dataclass(frozen=True)
class Offload:
    """What the API's service needs to send work away and to keep the rest one at a time."""

    dispatch: Dispatcher
    gate: HeavyGate
    inline_max_rows: int  # 0: every uncached result is queued
    queue_wait: float = 0.0  # seconds to wait for a queued result to reach the cache before answering 202
    max_pending: int = 8  # analytics.summary tasks in flight at most, all forms (app.analytics.claims)
    max_pending_per_form: int = 4  # ... and of one form
    claim_ttl_s: int = CLAIM_TTL_S  # how long a claim outlives a task that never ends (app.analytics.claims)


@dataclass
class AnalyticsService:
    store: FmsStore
    cache: Cache
    export_dir: Path
    ttl: int
    cursors: CursorCodec
    limits: spec.EngineLimits = field(default_factory=spec.EngineLimits)
    offload: Offload | None = None  # None: compute every uncached result here (CLI, benchmark, the task)
    must_store: bool = False  # the task's: a result it could not cache is a failure (CacheWriteFailed)

    @classmethod
    def from_settings(cls, store: FmsStore, cache: Cache, settings: Settings, cursors: CursorCodec,
                      dispatch: Dispatcher | None = None) -> AnalyticsService:
        """The service as the API (with ``dispatch``), the CLI, the benchmark and the task run it:
        the settings' TTL and DuckDB budget; with ``dispatch`` also the inline limit and the host lock."""
        limits = spec.EngineLimits(settings.analytics_memory_limit, settings.analytics_threads,
                                            settings.data_dir / "analytics-tmp")
        offload = None
        if dispatch is not None:
            offload = Offload(dispatch, HeavyGate(lock_path(settings.data_dir), settings.analytics_lock_wait),
                              settings.analytics_inline_max_rows, settings.analytics_queue_wait,
                              settings.analytics_max_pending, settings.analytics_max_pending_per_form,
                              claim_ttl(settings))
        return cls(store, cache, settings.export_dir, settings.analytics_cache_ttl, cursors, limits, offload)

    # --- arguments ------------------------------------------------------------------
    def _query(self, args: Mapping[str, str], form: Record, own: set[str], hide: frozenset[str]) -> SubmissionQuery:
        """The list filters among ``args``; any parameter that is neither a filter nor ours is a 400;
        one on a field in ``hide`` (sensitive, not the caller's to see) a 403."""
        filters = {}
        for param, raw in args.items():
            if param in own:
                continue
            if param not in _FILTER_PARAMS and FILTER_RE.match(param) is None:
                raise BadRequest.field(param, f"unknown query parameter {param!r}", code="unknown_parameter")
            filters[param] = raw
        query, _ = parse_list_args(filters, form, self.cursors, hide)
        return query

    @staticmethod
    def _format(args: Mapping[str, str]) -> str:
        fmt = args.get("format", "json")
        if fmt not in FORMATS:
            raise BadRequest.field("format", f"format must be one of {', '.join(FORMATS)}", code="invalid_format")
        return fmt

    @staticmethod
    def _split(args: Mapping[str, str], form: Record, hide: frozenset[str]) -> str | None:
        """The ``split_by`` field; a hidden one is a 403 (its groups would list every value with counts)."""
        name = args.get("split_by")
        if name is None:
            return None
        if name not in (form["schema"].get("properties") or {}):
            raise BadRequest.field("split_by", f"form has no field {name!r}", code="unknown_field")
        refuse_hidden(name, "split_by", hide)
        if "." in name or name.startswith("$"):  # not a plain MongoDB path: same answer on every backend
            raise BadRequest.field("split_by", f"field {name!r} cannot split (a '.' or leading '$' in its name)",
                                   code="invalid_split")
        if not spec.splittable(form["schema"], name):
            raise BadRequest.field("split_by", f"field {name!r} is not an enum or boolean; only those can split",
                                   code="invalid_split")
        return name

    # --- cache ------------------------------------------------------------------------
    def _job(self, kind: str, form: Record, args: Mapping[str, str], hide: frozenset[str],
             requester: str | None) -> Job:
        """The job's keys: ``key`` names this data version's result, ``base`` the same result at any data
        version (the latest entry and the claim); the data version is read before computing."""
        ident = {"k": kind, "f": form["id"], "v": form["version"],
                 "a": sorted((k, v) for k, v in args.items() if k != "format"), "h": sorted(hide)}
        version = self.store.data_version(form["id"])
        key = f"{form['id']}:{sha256_hex(canonical_json({**ident, 'd': version}))[:32]}"
        base = f"{form['id']}:{sha256_hex(canonical_json(ident))[:32]}"
        return Job(kind, key, form, args, hide, requester, base, version)

    def _cached(self, key: str) -> Record | None:
        raw = self.cache.get(NAMESPACE, key)
        if raw is None:
            return None
        try:
            result: Record = json.loads(raw)
        except ValueError:
            return None
        return {**result, "cached": True, "stale": False}

    def _latest(self, job: Job) -> tuple[int, Record] | None:
        """The newest result cached for ``job.base`` (any data version) and the data version it saw."""
        raw = self.cache.get(LATEST_NAMESPACE, job.base)
        if raw is None:
            return None
        try:
            entry = json.loads(raw)
            return int(entry["d"]), dict(entry["r"])
        except (ValueError, KeyError, TypeError):
            return None

    def _fresh_enough(self, job: Job) -> Record | None:
        """This data version's result: its own entry, or a latest one computed from this data or newer
        (the task read the version after this request did)."""
        result = self._cached(job.key)
        if result is not None:
            return result
        latest = self._latest(job)
        if latest is not None and latest[0] >= job.version:
            return {**latest[1], "cached": True, "stale": False}
        return None

    def _store(self, job: Job, result: Record) -> None:
        """Cache ``result`` as this data version's and as the latest; for the task a failed write raises
        :class:`CacheWriteFailed` (the API's next GET reads only the cache: a task that could not write
        there computed nothing anyone will see)."""
        stored = {k: v for k, v in result.items() if k not in ("cached", "stale")}
        exact = self.cache.set(NAMESPACE, job.key, json.dumps(stored, separators=(",", ":")).encode(), self.ttl)
        latest = self.cache.set(LATEST_NAMESPACE, job.base,
                                json.dumps({"d": job.version, "r": stored}, separators=(",", ":")).encode(), self.ttl)
        if self.must_store and not (exact and latest):
            raise CacheWriteFailed(f"the {job.kind} of form {job.form['id']} was computed but could not be cached")

    # --- the two results --------------------------------------------------------------
    def summary(self, form: Record, args: Mapping[str, str], hide: frozenset[str],
                requester: str | None = None) -> tuple[Record | Pending, str]:
        """The summary (cached or fresh, or :class:`Pending` from the API's service for a big form) and
        the format asked for (``json`` or ``csv``); ``requester`` owns a task this call starts."""
        fmt = self._format(args)
        split_by = self._split(args, form, hide)
        query = self._query(args, form, {"split_by", "format"}, hide)
        job = self._job("summary", form, args, hide, requester)
        cached = self._fresh_enough(job)
        if cached is not None:
            return cached, fmt
        return self._fresh(
            job,
            lambda: _analytics().summarize(self.store, self.export_dir,
                                           _analytics().SummaryRequest(form, query, split_by, hide),
                                           limits=self.limits)), fmt

    def timeseries(self, form: Record, args: Mapping[str, str], hide: frozenset[str] = frozenset(),
                   requester: str | None = None) -> Record | Pending:
        """Counts over time; ``hide`` only refuses filters on hidden fields (the points hold no answers)."""
        interval = args.get("interval", "day")
        if interval not in spec.INTERVALS:
            raise BadRequest.field("interval", f"interval must be one of {', '.join(spec.INTERVALS)}",
                                   code="invalid_interval")
        tz = args.get("tz", "UTC")
        if not spec.known_timezone(tz):  # DuckDB's zone list: a time series' check imports DuckDB, not pyarrow
            raise BadRequest.field("tz", f"{tz!r} is not an IANA time zone", code="invalid_timezone")
        query = self._query(args, form, {"interval", "tz"}, hide)
        job = self._job("timeseries", form, args, frozenset(), requester)
        cached = self._fresh_enough(job)
        if cached is not None:
            return cached
        return self._fresh(
            replace(job, hide=hide),
            lambda: _analytics().timeseries(self.store, self.export_dir, form, query, interval, tz,
                                            limits=self.limits))

    def compute(self, kind: str, form: Record, args: Mapping[str, str], hide: frozenset[str]) -> Record:
        """One result computed here whatever the form's size (the ``analytics.summary`` task's call): the
        arguments are checked again, and the result lands under the key the API's next GET computes."""
        if kind not in KINDS:
            raise BadRequest.field("kind", f"kind must be one of {', '.join(KINDS)}")
        here = replace(self, offload=None, must_store=True)
        result = here.summary(form, args, hide)[0] if kind == "summary" else here.timeseries(form, args, hide)
        if isinstance(result, Pending):  # cannot happen without an offload; says so if it ever does
            raise RuntimeError("a service without offload queued a task")
        return result

    # --- where an uncached result is computed ------------------------------------------
    def _fresh(self, job: Job, compute: Callable[[], Record]) -> Record | Pending:
        """Compute and cache, here (small form, lock free in time) or as a task (see the module doc)."""
        off = self.offload
        if off is None:
            return self._computed(job, compute)
        if off.inline_max_rows == 0 or self.store.form_row_count(job.form["id"]) > off.inline_max_rows:
            queued = self._offloaded(job, off)
            if queued is not None:
                return queued
        hold = off.gate.try_acquire()
        if hold is None:  # another summary or export held the host's lock all the wait: let a worker do it
            queued = self._offloaded(job, off)
            if queued is not None:
                return queued
            raise off.gate.busy()
        try:
            log.info("analytics lock taken", extra={"kind": job.kind, "form_id": job.form["id"]})
            started = time.monotonic()
            result = self._computed(job, compute)
            log.info("analytics computed inline", extra={  # before the release: its time is inside the lock
                "kind": job.kind, "form_id": job.form["id"], "duration_ms": round(1000 * (time.monotonic() - started))})
            return result
        finally:
            hold.release()

    def _offloaded(self, job: Job, off: Offload) -> Record | Pending | None:
        """The queued result (see :meth:`_awaited`); None without Redis. With too many tasks in flight
        the latest result, stale, if there is one (else the 503 stands)."""
        try:
            pending = self._queued(job, off)
        except AnalyticsBusy:
            latest = self._latest(job)
            if latest is None:
                raise
            return {**latest[1], "cached": True, "stale": True}
        return None if pending is None else self._awaited(job, pending, off.queue_wait)

    def _awaited(self, job: Job, pending: Pending, wait: float) -> Record | Pending:
        """The queued result once the worker has cached it, if that is within ``wait`` seconds; else the
        latest result of an older data version marked ``stale``; else ``pending`` (202).

        Why wait: with every summary on the queue (the default), a small form's result is
        in the cache a few hundred ms later (the worker's poll plus the computation);
        answering 200 then spares the client a 202 and a ``Retry-After`` round trip.
        Why stale: a form that gets submissions faster than a task takes never has a
        result for the data version a request read; without the latest one every GET
        would answer 202 forever.
        """
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            time.sleep(min(AWAIT_POLL_S, max(0.0, deadline - time.monotonic())))
            result = self._fresh_enough(job)
            if result is not None:
                return {**result, "cached": False}  # computed for this request, by the worker
        latest = self._latest(job)
        if latest is not None:
            return {**latest[1], "cached": True, "stale": True}
        return pending

    def _computed(self, job: Job, compute: Callable[[], Record]) -> Record:
        result = {**compute(), "stale": False}
        self._store(job, result)
        return result

    def _queued(self, job: Job, off: Offload) -> Pending | None:
        """The task computing ``job``'s result at the newest data version: the running one, or a new one;
        None without Redis. The claim is on ``job.base`` (no data version), so a form whose data moves
        on every request still has one task per result at a time. Past the bounds on tasks in flight
        (:mod:`app.analytics.claims`): the latest result if there is one, else :class:`AnalyticsBusy`."""
        claims = Claims(self.cache, off.max_pending, off.max_pending_per_form, off.claim_ttl_s)
        task_id = new_id()
        claim = claims.claim(job.form["id"], job.base, task_id)
        if claim is None:
            return None
        if claim.state == "held":
            return Pending(claim.task_id)
        if claim.state == "busy":
            raise self._too_many(claim.scope, off)
        try:
            off.dispatch.enqueue_tracked(ACTOR, (job.kind, job.form["id"], dict(job.args), sorted(job.hide),
                                                 job.base), created_by=job.requester, form_id=job.form["id"],
                                         task_id=task_id)
        except BaseException:
            claims.release(job.form["id"], job.base, task_id)  # nothing runs: the next request may claim
            raise
        return Pending(task_id)

    @staticmethod
    def _too_many(scope: str, off: Offload) -> AnalyticsBusy:
        limit = off.max_pending if scope == "host" else off.max_pending_per_form
        where = "all forms" if scope == "host" else "this form"
        return AnalyticsBusy(f"{limit} summaries of {where} are already queued or running; try again later",
                             [{"reason": "too_many_pending", "scope": scope, "limit": limit,
                               "retry_after": RETRY_AFTER_S}])

    def release_claim(self, form_id: str, key: str, task_id: str) -> None:
        """Called by the task when it ends, done or failed for good: the next request for ``key`` may start
        another, and the task no longer counts against the bounds."""
        claims = Claims(self.cache, 1, 1)  # the bounds only matter to claiming
        claims.release(form_id, key, task_id)


@dataclass(frozen=True)
class Job:
    """One uncached result: its kind, cache key, the request's form, arguments, hidden fields and caller."""

    kind: str
    key: str
    form: Record
    args: Mapping[str, str]
    hide: frozenset[str]
    requester: str | None = None
    base: str = ""  # the key without the data version: the latest entry and the claim
    version: int = 0  # the data version ``key`` names, read before computing

