"""The process tree, declared once.

Everything that starts fms processes reads this table: ``fms render
supervisor`` (dev, CI, hosts without systemd), the systemd unit templates and
Ansible. Changing a worker's concurrency is one edit here.

Commands are argv lists with ``{placeholders}`` filled by the renderer:
``{venv}`` (the virtualenv's bin directory), ``{root}`` (the release
directory), ``{data_dir}``, ``{redis_port}`` and ``{cores}``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


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
    env: dict[str, str] = field(default_factory=dict)


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
    ),
    Process(
        name="api",
        description="fms HTTP API (gunicorn)",
        command=("{venv}/gunicorn", "-c", "{root}/app/gunicorn_conf.py", "app.wsgi:application"),
        tier="api",
        processes="2*cores+1",
        memory_high="448M",
        memory_max="512M",
        cpu_weight=200,
        stop_timeout=35,
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
    ),
    Process(
        name="worker-default",
        description="fms worker for webhooks, e-mail and exports",
        command=_dramatiq(("default", "analytics")),
        tier="workers",
        queues=("default", "analytics"),
        processes="1",
        threads=4,
        memory_max="1G",
        cpu_weight=100,
        stop_timeout=60,
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
    ),
    Process(
        name="relay",
        description="fms outbox relay and scheduler loop",
        command=("{venv}/fms", "relay"),
        tier="workers",
        memory_max="256M",
        stop_timeout=15,
    ),
)


def process(name: str) -> Process:
    return next(p for p in PROCESSES if p.name == name)


def enabled(embedded: bool) -> list[Process]:
    """Processes to run; ``embedded`` adds those the host would otherwise provide."""
    return [p for p in PROCESSES if p.enabled and (embedded or not p.embedded_only)]
