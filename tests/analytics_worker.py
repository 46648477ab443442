"""``broker`` and ``worker`` fixtures for the packages whose tasks run on ``analytics`` (exports, SQL).

A package's conftest imports both names and defines its own ``settings``; the
broker carries every actor (as a real worker process does) and the worker
listens on ``analytics`` only, one thread, like the slice of worker-default
those tasks get.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest

from app.services import Services
from app.settings import Settings
from tests.workers import configure_broker, running_worker


@pytest.fixture
def broker(settings: Settings, svc: Services) -> Iterator[Any]:
    from tasks.registry import ACTOR_MODULES

    yield configure_broker(settings, svc, *ACTOR_MODULES)


@pytest.fixture
def worker(broker: Any) -> Iterator[dramatiq.Worker]:
    with running_worker(broker, queues={"analytics"}, threads=1, stop_timeout_ms=10_000) as w:
        yield w
