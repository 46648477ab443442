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

This module never imports prometheus_client: it runs before the process's metrics exist.
"""

from __future__ import annotations

import os
import sys
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


def main() -> int:
    from app.settings import load

    emptied, removed = reset_own(dict(os.environ), load().data_dir)
    if emptied is None:
        print(f"metrics: {os.environ.get(ENV) or '(no ' + ENV + ')'} is not this process's own directory;"
              " left as it is", file=sys.stderr)
    else:
        print(f"metrics: emptied {emptied} ({removed} files)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
