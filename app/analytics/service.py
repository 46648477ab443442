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
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from app.cache import Cache
from app.errors import BadRequest
from app.settings import Settings
from app.store import FmsStore, Record, SubmissionQuery
from app.submissions.query import FILTER_RE, CursorCodec, parse_list_args, refuse_hidden
from app.util import canonical_json, sha256_hex

if TYPE_CHECKING:
    from etl.analytics import EngineLimits


def _analytics() -> ModuleType:
    """:mod:`etl.analytics`, imported by the first analytics request: it pulls in DuckDB and pyarrow
    (tens of MB per process), which an API worker that never serves a summary should not carry."""
    from etl import analytics

    return analytics


def _default_limits() -> EngineLimits:
    return _analytics().EngineLimits()

NAMESPACE = "analytics"
FORMATS = ("json", "csv")
_FILTER_PARAMS = {"created_after", "created_before"}


@dataclass
class AnalyticsService:
    store: FmsStore
    cache: Cache
    export_dir: Path
    ttl: int
    cursors: CursorCodec
    limits: EngineLimits = field(default_factory=_default_limits)

    @classmethod
    def from_settings(cls, store: FmsStore, cache: Cache, settings: Settings, cursors: CursorCodec) -> AnalyticsService:
        """The service as the API, the CLI and the benchmark run it: the settings' TTL and DuckDB budget."""
        limits = _analytics().EngineLimits(settings.analytics_memory_limit, settings.analytics_threads,
                                            settings.data_dir / "analytics-tmp")
        return cls(store, cache, settings.export_dir, settings.analytics_cache_ttl, cursors, limits)

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
        if not _analytics().splittable(form["schema"], name):
            raise BadRequest.field("split_by", f"field {name!r} is not an enum or boolean; only those can split",
                                   code="invalid_split")
        return name

    # --- cache ------------------------------------------------------------------------
    def _key(self, kind: str, form: Record, args: Mapping[str, str], hide: frozenset[str]) -> str:
        ident = {"k": kind, "f": form["id"], "v": form["version"], "d": self.store.data_version(form["id"]),
                 "a": sorted((k, v) for k, v in args.items() if k != "format"), "h": sorted(hide)}
        return f"{form['id']}:{sha256_hex(canonical_json(ident))[:32]}"

    def _cached(self, key: str) -> Record | None:
        raw = self.cache.get(NAMESPACE, key)
        if raw is None:
            return None
        try:
            result: Record = json.loads(raw)
        except ValueError:
            return None
        return {**result, "cached": True}

    def _store(self, key: str, result: Record) -> None:
        self.cache.set(NAMESPACE, key, json.dumps(result, separators=(",", ":")).encode(), self.ttl)

    # --- the two results --------------------------------------------------------------
    def summary(self, form: Record, args: Mapping[str, str], hide: frozenset[str]) -> tuple[Record, str]:
        """The summary (cached or fresh) and the format asked for (``json`` or ``csv``)."""
        fmt = self._format(args)
        split_by = self._split(args, form, hide)
        query = self._query(args, form, {"split_by", "format"}, hide)
        key = self._key("summary", form, args, hide)  # data version read before computing
        result = self._cached(key)
        if result is None:
            engine = _analytics()
            result = engine.summarize(self.store, self.export_dir,
                                      engine.SummaryRequest(form, query, split_by, hide), limits=self.limits)
            self._store(key, result)
        return result, fmt

    def timeseries(self, form: Record, args: Mapping[str, str], hide: frozenset[str] = frozenset()) -> Record:
        """Counts over time; ``hide`` only refuses filters on hidden fields (the points hold no answers)."""
        interval = args.get("interval", "day")
        if interval not in _analytics().INTERVALS:
            raise BadRequest.field("interval", f"interval must be one of {', '.join(_analytics().INTERVALS)}",
                                   code="invalid_interval")
        tz = args.get("tz", "UTC")
        if not _analytics().known_timezone(tz):
            raise BadRequest.field("tz", f"{tz!r} is not an IANA time zone", code="invalid_timezone")
        query = self._query(args, form, {"interval", "tz"}, hide)
        key = self._key("timeseries", form, args, frozenset())
        result = self._cached(key)
        if result is None:
            result = _analytics().timeseries(self.store, self.export_dir, form, query, interval, tz,
                                             limits=self.limits)
            self._store(key, result)
        return result
