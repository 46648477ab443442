"""The process tree, declared once: what runs, when, in which slice, with which environment.

Everything that starts fms processes reads these tables: ``fms render
supervisor`` (dev, CI, hosts without systemd), ``python -m app.render.systemd``
(production units, also run by Ansible on the host) and the relay, which runs
the :data:`TIMERS` itself where the service manager has no timers
(supervisord). The renderers only format; changing a worker's concurrency, a
timer's schedule or a slice's limits is one edit here.

Commands are argv tuples with ``{placeholders}`` filled by the renderer:
``{venv}`` (the virtualenv's bin directory), ``{root}`` (the release
directory), ``{bin}`` (where fms-backup/fms-restore live), ``{data_dir}``,
``{backup_dir}``, ``{redis_port}``, ``{cores}`` (of the process's slice),
``{processes}`` and ``{threads}`` (of the row). ``systemd_env`` may also use
``{api_bind}``, ``{log_dir}`` and ``{runtime_dir}``.

A process with ``metrics`` writes Prometheus multiprocess files into its own
directory, ``{data_dir}/prometheus/<name>`` (:func:`environment`), and empties
it before each start (:func:`start_steps`), so restarting one unit never piles
up files nor drops another's counters (``app.observability.multiproc``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Command = tuple[str, ...]
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class Process:
    """One long-running process (a systemd service, a supervisor program)."""

    name: str
    description: str
    command: tuple[str, ...]
    tier: str  # slice: api | workers | ai | data
    queues: tuple[str, ...] = ()
    processes: str = "1"  # an int or "cores" / "2*cores+1"
    threads: int = 1
    memory_high: str | None = None
    memory_max: str | None = None
    cpu_weight: int | None = None
    cpu_quota: str | None = None
    pinned: bool = False  # gets its own cores (AllowedCPUs=)
    stop_timeout: int = 30  # seconds to drain before SIGKILL
    embedded_only: bool = False  # only when the host provides no service
    enabled: bool = True
    env: dict[str, str] = field(default_factory=dict)  # under every service manager
    systemd_env: dict[str, str] = field(default_factory=dict)  # under systemd only (host paths, tier cores)
    notify: bool = False  # reports readiness itself (sd_notify: Type=notify)
    reload_check: Command | None = None  # must succeed before a reload is signalled
    reload_signal: str | None = None  # what a reload sends the main process (HUP: graceful)
    pre_start: tuple[Command, ...] = ()  # run, in order, before each start (e.g. migrations), after the metrics reset
    oom_policy: str = "stop"  # systemd OOMPolicy=: "continue" where the process replaces a killed child
    egress: bool = False  # connects anywhere (webhooks, e-mail), not only to the data services
    runs_timers: bool = False  # runs TIMERS itself under a service manager without timers
    # the CREDENTIALS settings it reads (systemd loads only those); None: every one the host has
    credentials: tuple[str, ...] | None = None
    runtime_dir: bool = True  # systemd RuntimeDirectory=/run/fms-<name> ({runtime_dir}: the api's metrics files)
    metrics: bool = True  # writes Prometheus multiprocess files: its own directory, emptied at each start
    # the fms processes it calls (worker-ai and worker-default embed through the embedder): started before it,
    # never required
    # (systemd After= and Wants=; supervisord's priority); without them it runs and its calls retry
    wants: tuple[str, ...] = ()


@dataclass(frozen=True)
class Timer:
    """A scheduled one-shot job: a systemd .timer, the relay's schedule under supervisord.

    ``every`` is HOUR or DAY; ``at`` is the offset into each period, UTC
    (DAY, at=1h15m: 01:15 UTC daily). A run missed while nothing ran (host
    down, relay stopped) runs at the next start, like systemd's Persistent=.
    """

    name: str
    description: str
    command: Command
    every: timedelta
    at: timedelta = timedelta(0)
    randomized_delay: str = "15min"
    tier: str = "workers"
    state_dirs: tuple[str, ...] = ("fms",)
    timeout: int = 3600
    env: dict[str, str] = field(default_factory=dict)

    def last_due(self, now: datetime) -> datetime:
        """The latest scheduled instant at or before ``now`` (an aware datetime)."""
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        periods = (now - epoch - self.at) // self.every
        return epoch + self.at + periods * self.every

    def schedule(self) -> str:
        """In words, for humans: ``daily at 01:15 UTC``, ``hourly at :45``."""
        minutes = int(self.at.total_seconds()) // 60
        if self.every == DAY:
            return f"daily at {minutes // 60:02d}:{minutes % 60:02d} UTC"
        return f"hourly at :{minutes % 60:02d}"


@dataclass(frozen=True)
class Slice:
    """One cgroup slice: ``fms`` holds every tier; a tier's CPU quota comes from its cores."""

    name: str  # "fms" or a tier: api | workers | ai
    description: str
    cpu_weight: int
    memory_high: str
    memory_max: str
    cpu_quota_pct: int | None = None  # fms only: percent of all cores; tiers get exactly their cores
    apparmor: str = "fms-app"  # the profile of the units in this slice


def cores() -> int:
    """The cores this process may use (affinity-aware, unlike os.cpu_count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def resolve_count(expr: str, ncores: int | None = None) -> int:
    """Turn ``"cores"``, ``"2*cores+1"`` or ``"4"`` into a number."""
    n = ncores if ncores is not None else cores()
    table = {"cores": n, "2*cores+1": 2 * n + 1}
    if expr in table:
        return table[expr]
    return int(expr)


def _dramatiq(queues: tuple[str, ...]) -> tuple[str, ...]:
    """The worker command; processes and threads come from the Process row."""
    return (
        "{venv}/dramatiq", "tasks.worker",
        "--processes", "{processes}", "--threads", "{threads}",
        "--queues", *queues,
    )


PROCESSES: tuple[Process, ...] = (
    Process(
        name="redis",
        description="embedded redis-server (only when no REDIS_URL is configured)",
        command=(
            "redis-server", "{data_dir}/redis.conf",
        ),
        tier="data",
        embedded_only=True,
        stop_timeout=15,
        metrics=False,
    ),
    Process(
        name="api",
        description="fms HTTP API (gunicorn)",
        command=("{venv}/gunicorn", "-c", "{root}/app/gunicorn_conf.py", "app.wsgi:application"),
        tier="api",
        processes="2*cores+1",
        threads=4,  # gthread threads per worker (app/gunicorn_conf.py reads them from here)
        memory_high="448M",
        memory_max="512M",
        cpu_weight=200,
        stop_timeout=35,
        # the schema moves once, before the workers start (they would also migrate under a lock)
        pre_start=(("{venv}/fms", "migrate"),),
        systemd_env={
            "GUNICORN_CMD_ARGS": ("--chdir {root} --bind {api_bind} --access-logfile {log_dir}/api-access.log"
                                  " --error-logfile {log_dir}/api-error.log"),
            "FMS_WEB_WORKERS": "{processes}",  # of the api slice's cores, not the host's
            "PROMETHEUS_MULTIPROC_DIR": "{runtime_dir}",  # tmpfs, new at each start (not <data_dir>/prometheus/api)
        },
        notify=True,
        # the release `current` now points to must import, else the old workers keep serving
        reload_check=("{venv}/python", "-c", "import app.wsgi"),
        reload_signal="HUP",
        oom_policy="continue",  # gunicorn replaces an OOM-killed worker itself
    ),
    Process(
        name="worker-high",
        description="fms worker for the high queue (users are waiting)",
        command=_dramatiq(("high",)),
        tier="workers",
        queues=("high",),
        processes="cores",
        threads=1,
        memory_max="1G",
        cpu_weight=300,
        stop_timeout=60,
        egress=True,  # notifications the user waits for
    ),
    Process(
        name="worker-default",
        description="fms worker for webhooks, e-mail, exports and embeddings",
        # embed: ai.embed waits on the embedder (a Unix socket in the data dir, which this unit's sandbox
        # reaches: AF_UNIX, StateDirectory=fms), never on the model, so not on the serial AI worker
        command=_dramatiq(("default", "analytics", "embed")),
        tier="workers",
        queues=("default", "analytics", "embed"),
        processes="1",
        threads=4,
        memory_max="1G",
        cpu_weight=100,
        stop_timeout=60,
        egress=True,  # webhooks and e-mail (the app's SSRF guard filters targets)
        wants=("embedder",),  # ai.embed embeds through it (tasks.ai._embed_remote)
    ),
    Process(
        name="worker-ai",
        description="fms worker for model work (serial, pinned)",
        command=_dramatiq(("ai",)),
        tier="ai",
        queues=("ai",),
        processes="1",
        threads=1,
        memory_max="2G",
        cpu_weight=50,
        pinned=True,
        stop_timeout=330,
        systemd_env={"FMS_AI_THREADS": "{cores}", "OMP_NUM_THREADS": "{cores}"},  # = its pinned cores
        wants=("embedder",),  # a form summary's themes embed through it (tasks.ai._embed_remote)
        oom_policy="continue",  # the worker restarts its model child itself
    ),
    Process(
        name="embedder",
        description="fms query embedder for similar (one ONNX model, one thread, a Unix socket in the data dir)",
        command=("{venv}/fms", "embedder"),
        tier="ai",  # next to the model files; one thread, so it never crowds the pinned AI worker out
        memory_max="384M",
        cpu_weight=100,  # a caller waits on every query: ahead of worker-ai's batch work
        stop_timeout=10,
        # it reads the model files and listens on <data_dir>/embedder.sock (the state directory, which the api
        # units mount too; /run/fms-embedder would be invisible to them): no store, Redis, key or runtime dir
        credentials=(),
        runtime_dir=False,
        metrics=False,  # no prometheus_client in it
    ),
    Process(
        name="relay",
        description="fms outbox relay and scheduler loop",
        command=("{venv}/fms", "relay"),
        tier="workers",
        memory_max="256M",
        stop_timeout=15,
        runs_timers=True,
    ),
)

TIMERS: tuple[Timer, ...] = (
    Timer(
        name="export",
        description="fms daily export of the day due (Parquet + JSONL)",
        command=("{venv}/fms", "export"),
        every=DAY,
        at=timedelta(hours=1, minutes=15),
    ),
    Timer(
        name="backup",
        description="fms backup of the store and the export directory",
        command=("{bin}/fms-backup",),
        every=DAY,
        at=timedelta(hours=2, minutes=30),
        state_dirs=("fms", "fms-backups"),
        env={"FMS_BACKUP_DIR": "{backup_dir}"},
    ),
    Timer(
        name="purge",
        description="fms retention purge of soft-deleted submissions and old task records",
        command=("{venv}/fms", "purge"),
        every=HOUR,
        at=timedelta(minutes=45),
        randomized_delay="5min",
    ),
)

SLICES: tuple[Slice, ...] = (
    Slice("fms", "fms (all tiers)", cpu_weight=100, memory_high="80%", memory_max="90%", cpu_quota_pct=95),
    Slice("api", "fms api tier", cpu_weight=200, memory_high="25%", memory_max="30%"),
    Slice("workers", "fms workers tier", cpu_weight=100, memory_high="30%", memory_max="40%"),
    Slice("ai", "fms ai tier", cpu_weight=50, memory_high="40%", memory_max="50%", apparmor="fms-ai"),
)

@dataclass(frozen=True)
class Credential:
    """A secret setting read from a file: systemd loads it (LoadCredential=) and sets <SETTING>_FILE."""

    setting: str
    file: str  # its name in the host's credentials directory
    always: bool = True  # False: only on hosts that have it (Ansible says which)


# Secrets reach every unit as <SETTING>_FILE, never as plain environment.
CREDENTIALS: tuple[Credential, ...] = (
    Credential("FMS_SECRET_KEY", "secret_key"),
    Credential("REDIS_URL", "redis_url"),
    Credential("FMS_CACHE_REDIS_URL", "cache_redis_url", always=False),  # a separate cache Redis
    Credential("MONGODB_URI", "mongodb_uri", always=False),  # MongoDB instead of SQLite
    Credential("FMS_BOOTSTRAP_ADMIN", "bootstrap_admin", always=False),  # the first admin, once
)


def process(name: str) -> Process:
    return next(p for p in PROCESSES if p.name == name)


def enabled(embedded: bool) -> list[Process]:
    """Processes to run; ``embedded`` adds those the host would otherwise provide."""
    return [p for p in PROCESSES if p.enabled and (embedded or not p.embedded_only)]


def fill(template: str, values: dict[str, Any]) -> str:
    """One command part or environment value with its placeholders filled."""
    return template.format(**values)


# The first start step of every process with ``metrics``: empties its PROMETHEUS_MULTIPROC_DIR
# (its own directory only) before dramatiq or gunicorn fork a child that writes there.
METRICS_RESET: Command = ("{venv}/python", "-m", "app.observability.multiproc")


def start_steps(proc: Process) -> tuple[Command, ...]:
    """What runs, in order, before each start: the metrics reset (``metrics``), then the row's ``pre_start``."""
    return ((METRICS_RESET,) if proc.metrics else ()) + proc.pre_start


def environment(proc: Process, values: dict[str, Any], manager: str,
                timers: tuple[Timer, ...] = TIMERS) -> dict[str, str]:
    """A process's environment, the same function for every renderer.

    ``FMS_PROCESS`` names it in logs and heartbeats; with ``metrics``,
    ``PROMETHEUS_MULTIPROC_DIR`` is its own ``{data_dir}/prometheus/<name>``;
    the row's ``env``; under systemd its ``systemd_env`` (the api's metrics in
    its runtime directory); under a manager without timers (``supervisor``)
    the process that ``runs_timers`` gets ``FMS_TIMERS``, the names it runs.
    """
    env = {"FMS_PROCESS": proc.name}
    if proc.metrics:
        env["PROMETHEUS_MULTIPROC_DIR"] = "{data_dir}/prometheus/" + proc.name
    env.update(proc.env)
    if manager == "systemd":
        env.update(proc.systemd_env)
    elif proc.runs_timers and timers:
        env["FMS_TIMERS"] = ",".join(t.name for t in timers)
    return {key: fill(value, values) for key, value in env.items()}


def timer_environment(timer: Timer, values: dict[str, Any]) -> dict[str, str]:
    """A timer job's environment: ``FMS_PROCESS`` (its name) and the row's ``env``."""
    return {key: fill(value, values) for key, value in {"FMS_PROCESS": timer.name, **timer.env}.items()}


def argv(command: Command, values: dict[str, Any]) -> list[str]:
    return [fill(part, values) for part in command]
