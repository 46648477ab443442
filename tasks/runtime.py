"""The per-process objects actors and middleware need: settings and services.

A worker builds them lazily from the environment (``app.settings.load``);
tests and the relay hand in their own with :func:`use`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from app.settings import Settings, load

if TYPE_CHECKING:
    from app.services import Services

_lock = threading.Lock()
_settings: Settings | None = None
_services: Services | None = None


def use(settings: Settings, services: Services | None = None) -> None:
    """Make these the process's settings (and services, when given)."""
    global _settings, _services
    with _lock:
        _settings, _services = settings, services


def settings() -> Settings:
    global _settings
    if _settings is None:
        with _lock:
            if _settings is None:
                _settings = load()
    return _settings


def services() -> Services:
    """The service container, built once per process on first use."""
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                from app.services import build

                _services = build(settings())
    return _services
