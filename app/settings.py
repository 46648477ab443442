"""One settings object, read once.

Sources, highest first: the process environment, ``NAME_FILE`` (a path whose
contents are the value — systemd ``LoadCredential=`` and Docker secrets use
this), then a ``.env`` file in the working directory. Every setting is a
:class:`Setting` row below; the README's configuration table is generated
from the same rows (``fms config table``) and a test keeps them in sync.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from app.process_tree import process, resolve_count


def _setting(env: str, default: Any, doc: str, secret: bool = False) -> Any:
    return field(default=default, metadata={"env": env, "doc": doc, "secret": secret})


class SettingsError(ValueError):
    """A setting has a value we cannot use; raised at start-up, never later."""


def parse_time_limits(spec: str) -> dict[str, int]:
    """``"high=60,ai=300"`` (``FMS_TASK_TIME_LIMITS``) -> milliseconds per queue name. The names are
    checked against the routing table by :func:`tasks.routing.parse_time_limits`, which the workers use;
    the domain reads a queue's limit here (the analytics claims outlive their task's)."""
    limits: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, seconds = part.partition("=")
        limits[name.strip()] = int(float(seconds) * 1000)
    return limits

@dataclass(frozen=True)
class Settings:
    """Every knob of fms. Build with :func:`load` (or ``Settings.from_env``)."""

    # --- process and HTTP -------------------------------------------------
    env: str = _setting("FMS_ENV", "production", "`production`, `development` or `test`.")
    host: str = _setting("FMS_HOST", "127.0.0.1", "Address gunicorn binds to.")
    port: int = _setting("FMS_PORT", 8000, "Port gunicorn binds to.")
    data_dir: Path = _setting("FMS_DATA_DIR", Path("./var"), "State: SQLite file, exports, models, embedded Redis.")
    web_workers: int = _setting("FMS_WEB_WORKERS", 0, "Gunicorn workers; 0 means 2 x cores + 1.")
    web_timeout: int = _setting("FMS_WEB_TIMEOUT", 30, "Gunicorn worker timeout, seconds.")
    max_body_bytes: int = _setting("FMS_MAX_BODY_BYTES", 1_048_576, "Largest request body; bigger gets 413.")
    secret_key: str = _setting("FMS_SECRET_KEY", "", "Key for signing cursors; generated into the data dir when empty.", secret=True)
    bootstrap_admin: str = _setting("FMS_BOOTSTRAP_ADMIN", "", "`user:password` admin created on first start when no user exists.", secret=True)
    # --- store --------------------------------------------------------------
    mongodb_uri: str = _setting("MONGODB_URI", "", "MongoDB connection string; empty means SQLite in the data dir.", secret=True)
    mongodb_db: str = _setting("FMS_MONGODB_DB", "fms", "MongoDB database name.")
    sqlite_synchronous: str = _setting("FMS_SQLITE_SYNCHRONOUS", "FULL", "SQLite `synchronous` pragma (`FULL` survives power loss; `NORMAL` is faster).")
    # --- redis --------------------------------------------------------------
    redis_url: str = _setting("REDIS_URL", "", "Broker Redis; empty means `scripts/run` starts one in the data dir.", secret=True)
    cache_redis_url: str = _setting("FMS_CACHE_REDIS_URL", "", "Cache Redis; empty means database 1 of REDIS_URL.", secret=True)
    cache_ttl: int = _setting("FMS_CACHE_TTL", 300, "Seconds a cached form or list stays in Redis.")
    analytics_cache_ttl: int = _setting("FMS_ANALYTICS_CACHE_TTL", 3600, "Seconds a form summary or time series stays in Redis; a new submission invalidates it sooner.")
    analytics_memory_limit: str = _setting("FMS_ANALYTICS_MEMORY_LIMIT", "128MB", "DuckDB `memory_limit` of one summary or time series, computed in the API worker that asks (the api unit's `MemoryMax` covers all its workers) or, for a big form, on the `analytics` queue; past it DuckDB spills to `<data_dir>/analytics-tmp`.")
    analytics_threads: int = _setting("FMS_ANALYTICS_THREADS", 2, "DuckDB `threads` of one summary or time series.")
    analytics_inline_max_rows: int = _setting("FMS_ANALYTICS_INLINE_MAX_ROWS", 0, "An uncached summary or time series of a form with at most this many stored submissions is computed in the API worker that asks (DuckDB and pyarrow then stay loaded in that worker, ~55 MB each); a bigger one runs on the `analytics` queue. 0 (the default): always on the queue, so the api unit never holds DuckDB and stays under its `MemoryMax` whatever the forms' size.")
    analytics_queue_wait: float = _setting("FMS_ANALYTICS_QUEUE_WAIT", 2.0, "Seconds an API request waits for a queued summary or time series to reach the cache before it answers `202` with the task and `Retry-After` (a small form's result is usually there first, and the answer is a plain 200).")
    analytics_max_pending: int = _setting("FMS_ANALYTICS_MAX_PENDING", 8, "Queued or running `analytics.summary` tasks at most (all forms, counted in Redis); past it, or past `FMS_ANALYTICS_MAX_PENDING_PER_FORM` for one form, an uncached summary or time series answers `503 analytics_busy` with `Retry-After` (or the latest result, `stale: true`, if there is one), so readers cannot queue a full scan per argument set.")
    analytics_max_pending_per_form: int = _setting("FMS_ANALYTICS_MAX_PENDING_PER_FORM", 4, "Queued or running `analytics.summary` tasks of one form at most (see `FMS_ANALYTICS_MAX_PENDING`).")
    analytics_lock_wait: float = _setting("FMS_ANALYTICS_LOCK_WAIT", 5.0, "Seconds an API request waits for the host's one-at-a-time analytics lock (inline summaries, time series, writing a Parquet or XLSX export) before a summary goes to the queue and an export answers `503 analytics_busy`.")
    # --- auth ---------------------------------------------------------------
    token_ttl: int = _setting("FMS_TOKEN_TTL", 86_400, "Login token lifetime, seconds.")
    login_max_failures: int = _setting("FMS_LOGIN_MAX_FAILURES", 5, "Failed logins per user and IP before 429.")
    login_window: int = _setting("FMS_LOGIN_WINDOW", 900, "Window (seconds) for counting failed logins.")
    deleted_retention_days: int = _setting("FMS_DELETED_RETENTION_DAYS", 30, "Days a soft-deleted submission can be restored before it is purged.")
    public_rate_limit: int = _setting("FMS_PUBLIC_RATE_LIMIT", 30, "Anonymous submissions per minute per IP and link.")
    # --- observability -----------------------------------------------------
    log_level: str = _setting("FMS_LOG_LEVEL", "INFO", "Root log level.")
    log_levels: str = _setting("FMS_LOG_LEVELS", "", "Per-module levels, e.g. `app.store=DEBUG,werkzeug=WARNING`.")
    metrics_dir: str = _setting("PROMETHEUS_MULTIPROC_DIR", "", "Prometheus multiprocess directory of a process started by hand; empty means `<data_dir>/prometheus`. The process tree sets its own per process (`<data_dir>/prometheus/<name>`, the api `/run/fms-api` under systemd) on the command line, so leave it out of fms.env.")
    metrics_public: bool = _setting("FMS_METRICS_PUBLIC", False, "Serve `/metrics` to non-loopback clients too.")

    # --- tasks (tasks helper) -----------------------------------------------
    task_max_retries: int = _setting("FMS_TASK_MAX_RETRIES", 3, "Retries after the first attempt before a task is dead (per-actor overrides exist).")
    task_min_backoff: int = _setting("FMS_TASK_MIN_BACKOFF_MS", 1000, "First retry delay, ms; doubles per attempt, with jitter.")
    task_max_backoff: int = _setting("FMS_TASK_MAX_BACKOFF_MS", 300_000, "Largest retry delay, ms.")
    task_time_limits: str = _setting("FMS_TASK_TIME_LIMITS", "high=60,default=120,ai=300,embed=60,analytics=1800", "Time limit per queue, seconds (`queue=seconds,...`).")
    task_retention_days: int = _setting("FMS_TASK_RETENTION_DAYS", 30, "Finished task records older than this are purged by the hourly purge timer (`fms purge`).")
    queue_prefetch: int = _setting("FMS_QUEUE_PREFETCH", 0, "Messages a worker prefetches per queue; 0 means 2 x threads.")
    worker_timeout_ms: int = _setting("FMS_WORKER_TIMEOUT_MS", 1000, "Longest idle block of a consumer before it polls again, ms.")
    broker_heartbeat_timeout: int = _setting("FMS_BROKER_HEARTBEAT_TIMEOUT_MS", 60_000, "A worker silent this long is dead; its unacked messages are requeued.")
    worker_heartbeat_ttl: int = _setting("FMS_WORKER_HEARTBEAT_TTL", 15, "Seconds a worker heartbeat stays valid for /ready.")
    relay_batch: int = _setting("FMS_RELAY_BATCH", 500, "Outbox events moved to the broker per pipeline.")
    relay_interval: float = _setting("FMS_RELAY_INTERVAL", 0.2, "Seconds the relay waits when the outbox is empty.")
    webhook_timeout: float = _setting("FMS_WEBHOOK_TIMEOUT", 10.0, "Seconds a webhook HTTP attempt may take in all (connect, send, reply), by the wall clock; a delivery's claim lease is 5 s longer.")
    webhook_retry_schedule: str = _setting("FMS_WEBHOOK_RETRY_SCHEDULE", "0,5s,5m,30m,2h,5h,10h,10h", "Delay before each webhook attempt (the first is the initial one; units s, m, h, d): as many attempts as entries, stored with the delivery; while the endpoint answers nothing (an outage) the last step repeats until it is disabled. The default spans about 27 h (Standard Webhooks / Svix).")
    webhook_concurrency: int = _setting("FMS_WEBHOOK_CONCURRENCY", 2, "Deliveries in flight at once per endpoint: a recovering endpoint gets its backlog this many at a time, oldest first.")
    webhook_disable_after: str = _setting("FMS_WEBHOOK_DISABLE_AFTER", "5d", "How long an endpoint must have failed without one success before it is disabled (units s, m, h, d); needs FMS_WEBHOOK_DISABLE_MIN_ATTEMPTS failed attempts too.")
    webhook_disable_min_attempts: int = _setting("FMS_WEBHOOK_DISABLE_MIN_ATTEMPTS", 10, "Failed attempts in a row an endpoint needs, besides FMS_WEBHOOK_DISABLE_AFTER, before it is disabled.")
    webhook_sweep_interval: float = _setting("FMS_WEBHOOK_SWEEP_INTERVAL", 5.0, "Seconds between the relay's scans for due deliveries that have no live message (after a Redis wipe or a killed worker).")
    webhook_allow_private: bool = _setting("FMS_WEBHOOK_ALLOW_PRIVATE", False, "Allow webhook targets on private, loopback and link-local addresses.")
    webhook_allow_nets: str = _setting("FMS_WEBHOOK_ALLOW_NETS", "", "Comma-separated CIDRs allowed as webhook targets despite the SSRF guard.")
    breaker_fail_max: int = _setting("FMS_BREAKER_FAIL_MAX", 5, "Consecutive failures that open a target's circuit breaker.")
    breaker_reset: float = _setting("FMS_BREAKER_RESET", 30.0, "Seconds an open circuit waits before a trial call.")
    smtp_host: str = _setting("FMS_SMTP_HOST", "", "SMTP server for notifications; empty disables e-mail.")
    smtp_port: int = _setting("FMS_SMTP_PORT", 25, "SMTP port.")
    smtp_user: str = _setting("FMS_SMTP_USER", "", "SMTP user (empty: no AUTH).")
    smtp_password: str = _setting("FMS_SMTP_PASSWORD", "", "SMTP password.", secret=True)
    smtp_starttls: bool = _setting("FMS_SMTP_STARTTLS", False, "Upgrade the SMTP connection with STARTTLS.")
    smtp_from: str = _setting("FMS_SMTP_FROM", "fms@localhost", "Sender address of notifications.")
    alert_email: str = _setting("FMS_ALERT_EMAIL", "", "Operator address told when a webhook endpoint is disabled.")
    # --- end tasks -----------------------------------------------------------

    # --- inference (inference helper) --------------------------------------
    llm_model: str = _setting("FMS_LLM_MODEL", "", "Active GGUF LLM path; empty means the installed default `<data_dir>/models/gemma-3-270m-q4_k_m.gguf`.")
    embed_model: str = _setting("FMS_EMBED_MODEL", "", "Active ONNX embedder path; empty means `<data_dir>/models/all-MiniLM-L6-v2/model_int8.onnx`.")
    embed_tokenizer: str = _setting("FMS_EMBED_TOKENIZER", "", "tokenizer.json of the embedder; empty means the one next to the embedder.")
    ai_threads: int = _setting("FMS_AI_THREADS", 0, "Model threads; 0 means the cores the AI worker may use (its CPU affinity).")
    ai_timeout: int = _setting("FMS_AI_TIMEOUT", 300, "Hard limit per model call, seconds; the engine process is killed and restarted after it.")
    ai_queue_max: int = _setting("FMS_AI_QUEUE_MAX", 32, "Most messages in the `ai` queue (waiting, delayed and running); at it, fill and summarize answer 503 `ai_queue_full` with `Retry-After` and write nothing. 0: no bound.")
    ai_max_queue_wait: float = _setting("FMS_AI_MAX_QUEUE_WAIT", 120.0, "Seconds a fill or summary may wait in the `ai` queue; one that waited longer fails with `queue_wait_exceeded` without running the model. 0: no limit.")
    fill_budget: float = _setting("FMS_FILL_BUDGET", 2.0, "Seconds one AI fill may spend (model time included): the extractors always run, model steps (ranking options, extracting a name or place, the grammar fill) only while the budget lasts; fields it did not allow are left out and listed in `stats.budget_skipped`. 0: no budget.")
    embedder_socket: str = _setting("FMS_EMBEDDER_SOCKET", "", "Unix socket of the `embedder` process that embeds `similar` queries for every API worker; empty means `<data_dir>/embedder.sock`.")
    embedder_timeout: float = _setting("FMS_EMBEDDER_TIMEOUT", 2.0, "Seconds an API worker waits for the embedder (connect and reply); past it, or with the embedder down, `similar` answers 503 `model_unavailable` with `Retry-After`.")
    duplicate_threshold: float = _setting("FMS_DUPLICATE_THRESHOLD", 0.71, "Cosine similarity (MiniLM) at or above which submissions are probable duplicates; 0.71 gives precision 0.92 and recall 0.92 on tests/data/duplicates/pairs.jsonl.")
    model_upload_max: int = _setting("FMS_MODEL_UPLOAD_MAX_BYTES", 1_073_741_824, "Largest model file accepted by upload.")
    model_dirs: str = _setting("FMS_MODEL_DIRS", "", "Comma-separated directories the API may register model files from by path; empty means `<data_dir>/models`.")
    # --- end inference -------------------------------------------------------

    # --- admin SQL and exports (exports helper) -------------------------------
    sql_timeout: float = _setting("FMS_SQL_TIMEOUT", 30.0, "Wall-clock limit of one admin SQL query, seconds; DuckDB is interrupted after it.")
    sql_max_rows: int = _setting("FMS_SQL_MAX_ROWS", 10_000, "Most rows an admin SQL query returns; more are cut and flagged `truncated`.")
    sql_memory_limit: str = _setting("FMS_SQL_MEMORY_LIMIT", "192MB", "DuckDB `memory_limit` of one admin SQL query; the worker serving `analytics` may run one per task thread beside other work, so threads x this must stay well within its `MemoryMax`.")
    sql_threads: int = _setting("FMS_SQL_THREADS", 1, "DuckDB `threads` of one admin SQL query (each task thread of the worker serving `analytics` may run one).")
    sql_max_temp_size: str = _setting("FMS_SQL_MAX_TEMP_SIZE", "2GB", "DuckDB `max_temp_directory_size` (spill to disk) of one admin SQL query.")
    export_link_ttl: int = _setting("FMS_EXPORT_LINK_TTL", 86_400, "Seconds a finished export task's download link stays valid.")
    # --- end admin SQL and exports ---------------------------------------------

    @property
    def workers(self) -> int:
        return self.web_workers or resolve_count(process("api").processes)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "fms.sqlite3"

    @property
    def export_dir(self) -> Path:
        """The daily export (Parquet + JSONL) and the admin SQL sandbox's only readable directory."""
        return self.data_dir / "exports"

    @property
    def cache_url(self) -> str:
        if self.cache_redis_url:
            return self.cache_redis_url
        return _with_db(self.redis_url, 1) if self.redis_url else ""

    @property
    def prometheus_dir(self) -> Path:
        return Path(self.metrics_dir) if self.metrics_dir else self.data_dir / "prometheus"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, dotenv: Path | None = Path(".env"), **overrides: Any) -> Settings:
        """Read every setting once; unknown or malformed values fail here."""
        source = _merged_sources(environ if environ is not None else dict(os.environ), dotenv)
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            raw = _lookup(source, name)
            if raw is not None:
                values[f.name] = _coerce(name, raw, f.default)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.env not in {"production", "development", "test"}:
            raise SettingsError(f"FMS_ENV must be production, development or test, not {self.env!r}")
        if self.sqlite_synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise SettingsError("FMS_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA")
        if self.max_body_bytes < 1024:
            raise SettingsError("FMS_MAX_BODY_BYTES must be at least 1024")
        if self.analytics_inline_max_rows < 0 or self.analytics_lock_wait < 0 or self.analytics_queue_wait < 0:
            raise SettingsError("FMS_ANALYTICS_INLINE_MAX_ROWS, FMS_ANALYTICS_LOCK_WAIT and FMS_ANALYTICS_QUEUE_WAIT "
                                "must not be negative")
        if self.analytics_max_pending < 1 or self.analytics_max_pending_per_form < 1:
            raise SettingsError("FMS_ANALYTICS_MAX_PENDING and FMS_ANALYTICS_MAX_PENDING_PER_FORM must be at least 1")
        if self.ai_queue_max < 0 or self.ai_max_queue_wait < 0:
            raise SettingsError("FMS_AI_QUEUE_MAX and FMS_AI_MAX_QUEUE_WAIT must not be negative (0: no bound)")
        if self.fill_budget < 0:
            raise SettingsError("FMS_FILL_BUDGET must not be negative (0: no budget)")
        self._validate_webhooks()

    def _validate_webhooks(self) -> None:
        from app.webhooks.schedule import parse_duration, parse_schedule

        try:
            parse_schedule(self.webhook_retry_schedule)
            parse_duration(self.webhook_disable_after)
        except ValueError as exc:
            raise SettingsError(f"FMS_WEBHOOK_RETRY_SCHEDULE / FMS_WEBHOOK_DISABLE_AFTER: {exc}") from exc
        if self.webhook_concurrency < 1:
            raise SettingsError("FMS_WEBHOOK_CONCURRENCY must be at least 1")

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict with secrets masked, for `fms check` and logs."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.metadata["env"]] = "***" if f.metadata["secret"] and value else str(value)
        return out


def _with_db(url: str, db: int) -> str:
    base, _, tail = url.partition("?")
    head, sep, last = base.rpartition("/")
    if sep and last.isdigit() and "//" in head:
        base = head
    return f"{base.rstrip('/')}/{db}" + (f"?{tail}" if tail else "")


def _merged_sources(environ: dict[str, str], dotenv: Path | None) -> dict[str, str]:
    merged: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    merged.update(environ)
    return merged


def _lookup(source: dict[str, str], name: str) -> str | None:
    if name in source:
        return source[name]
    path = source.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"{name}_FILE={path!r} cannot be read: {exc.strerror}") from exc
    return None


def _coerce(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off", ""}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
        return raw
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a valid {type(default).__name__}") from exc


def table() -> str:
    """The README configuration table, generated from the fields above."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in fields(Settings):
        default = f.default if f.default not in ("", None) else "—"
        rows.append(f"| `{f.metadata['env']}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(rows)


@lru_cache(maxsize=1)
def load() -> Settings:
    """The process-wide settings, read once."""
    return Settings.from_env()
