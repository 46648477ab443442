"""Every actor module, imported in one place (workers, the relay and the CLI call :func:`load_actors`)."""

from __future__ import annotations

import importlib

ACTOR_MODULES = ("tasks.system", "tasks.webhooks", "tasks.email", "tasks.ai", "tasks.analytics")


def load_actors() -> None:
    """Import the actor modules so their actors are declared on the current broker."""
    for name in ACTOR_MODULES:
        importlib.import_module(name)
