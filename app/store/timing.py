"""Store query timing, reported to Prometheus (no web framework involved)."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from app.observability.metrics import STORE_SECONDS

F = TypeVar("F", bound=Callable[..., Any])


def timed(operation: str) -> Callable[[F], F]:
    """Observe the wall time of one store operation under ``operation``."""

    def decorate(fn: F) -> F:
        children: dict[str, Any] = {}  # backend -> histogram child: labels() hashes and checks on every call

        @wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(self, *args, **kwargs)
            finally:
                backend = type(self).backend
                child = children.get(backend)
                if child is None:
                    child = children[backend] = STORE_SECONDS.labels(backend, operation)
                child.observe(time.perf_counter() - start)

        return wrapper  # type: ignore[return-value]

    return decorate
