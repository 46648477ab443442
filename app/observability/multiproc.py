"""Prometheus multiprocess directories: one per process of the tree, emptied when that process starts.

Why: prometheus-client writes one file per process and metric type and merges every file it finds;
nothing ever removes a stopped process's files. In one directory shared by units that restart on their
own (the workers and the relay under systemd) every restart and every dramatiq child left its files
behind, each scrape read all of them, and the client's rule (wipe the directory between runs) could not
be followed without wiping the counters of units still running.

So the process tree gives each process ``<data_dir>/prometheus/<name>`` (``PROMETHEUS_MULTIPROC_DIR``
in its environment, :func:`app.process_tree.environment`) and runs ``python -m
app.observability.multiproc`` as its first start step, under systemd (``ExecStartPre=``) and
supervisord (the program's shell) alike: before dramatiq or gunicorn fork a child, that process's own
directory is emptied and nobody else's. The API's ``/metrics`` merges its own directory, the base and
every directory under it (:func:`scrape_dirs`).

The same step clears what nobody writes any more (:func:`clean_base`): the base's files of processes
that are gone (before one directory per process, every unit wrote the base itself, and an upgraded host
keeps those files; a ``mostrecent`` gauge such as ``fms_breaker_state`` would show their old value at
every scrape) and a process's named directory it does not use (``prometheus/api`` on a systemd host,
where the api writes ``/run/fms-api``).

Under systemd the directory is set on the command line of this step and of the process
(``/usr/bin/env PROMETHEUS_MULTIPROC_DIR=... cmd``, app.render.systemd), not by ``Environment=``: an
``EnvironmentFile=`` (``/etc/fms/fms.env``) overrides every ``Environment=``, so a
``PROMETHEUS_MULTIPROC_DIR`` an operator put there would otherwise give every unit one shared directory
that this step must leave alone. Under supervisord the program's ``environment=`` wins over inherited ones.

This module never imports prometheus_client: it runs before the process's metrics exist.
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def base(data_dir: Path) -> Path:
    """Where every process of the tree has its directory (``<data_dir>/prometheus``)."""
    return Path(data_dir) / "prometheus"


def own_dir(data_dir: Path, process: str) -> Path:
    """One process's directory: ``<data_dir>/prometheus/<process>``."""
    return base(data_dir) / process


def scrape_dirs(root: Path) -> list[Path]:
    """The base (a process started by hand, without the tree's environment, writes there) and every
    process directory under it, listed at each scrape so a unit started since the last one is included."""
    if not root.is_dir():
        return []
    return [root, *sorted(d for d in root.iterdir() if d.is_dir())]


def reset(directory: Path) -> int:
    """Empty one process's directory (its ``*.db`` files) and make sure it exists; returns the files removed."""
    directory.mkdir(parents=True, exist_ok=True)
    removed = 0
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def reset_own(environ: dict[str, str], data_dir: Path) -> tuple[Path | None, int]:
    """The start step: empty ``PROMETHEUS_MULTIPROC_DIR`` if it is this process's own directory.

    Anything else is left alone: a directory an operator set for several units (emptying it would
    drop the counters of the others) and the api's ``/run/fms-api`` under systemd, which systemd
    creates empty at each start itself. Returns the directory emptied (None: none) and the files removed.
    """
    name, directory = environ.get("FMS_PROCESS", ""), environ.get(ENV, "")
    if not name or not directory:
        return None, 0
    mine = own_dir(data_dir, name)
    if os.path.realpath(directory) != os.path.realpath(mine):
        return None, 0
    return mine, reset(mine)


def _pid(path: Path) -> int | None:
    """The process a multiprocess file belongs to: prometheus-client names it ``<kind>_<pid>.db``."""
    tail = path.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; one this process may not signal (another user's) counts as running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_base(environ: dict[str, str], data_dir: Path) -> int:
    """Remove what no running process writes: files in the base itself whose process is gone, and this
    process's ``prometheus/<name>`` when its ``PROMETHEUS_MULTIPROC_DIR`` is elsewhere; returns the files removed.

    The base is still merged (a worker started by hand writes there), so a running process's files stay;
    a pid reused since is only kept until a later start finds it gone.
    """
    root, removed = base(data_dir), 0
    for path in root.glob("*.db"):
        pid = _pid(path)
        if pid is not None and not _alive(pid):
            path.unlink(missing_ok=True)
            removed += 1
    name, directory = environ.get("FMS_PROCESS", ""), environ.get(ENV, "")
    mine = own_dir(data_dir, name)
    if name and directory and mine.is_dir() and os.path.realpath(directory) != os.path.realpath(mine):
        removed += reset(mine)
        with suppress(OSError):  # something else in it: left as it is
            mine.rmdir()
    return removed


def main() -> int:
    from app.settings import load

    data_dir = load().data_dir
    stale = clean_base(dict(os.environ), data_dir)
    if stale:
        print(f"metrics: removed {stale} files no running process writes from {base(data_dir)}", file=sys.stderr)
    emptied, removed = reset_own(dict(os.environ), data_dir)
    if emptied is None:
        print(f"metrics: {os.environ.get(ENV) or '(no ' + ENV + ')'} is not this process's own directory;"
              " left as it is", file=sys.stderr)
    else:
        print(f"metrics: emptied {emptied} ({removed} files)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
