"""What the HTTP layer may ask of the task system: the dispatcher interface.

The blueprints start work (fill, summaries, exports, admin SQL, benchmarks,
webhook redelivery, task retry) and ``/ready`` asks whether workers are alive,
but none of them knows Dramatiq, Redis or the outbox: they name an actor and
its arguments and hand them to the :class:`Dispatcher` held by the service
container (:class:`app.services.Services`). The implementation lives in
:mod:`tasks.dispatch` and is plugged in at the composition root
(:mod:`app.factory`), the way Dramatiq callers depend on its abstract
``Broker`` and get a Redis or a stub broker. So ``app/`` imports nothing from
``tasks/`` (a test keeps it so), and the promise every caller relies on is
written once, here: once a call returns, the work is in the broker or, while
Redis is down, in the store's outbox, and a tracked task has its ``queued``
record either way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn


@dataclass(frozen=True)
class Call:
    """One actor call by name (``"webhook.deliver"``), its arguments kept apart from the dispatch options."""

    actor: str
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


class Dispatcher(ABC):
    """Starts tasks for the HTTP layer; :class:`tasks.dispatch.TaskDispatcher` is the real one."""

    @abstractmethod
    def enqueue_tracked(self, actor: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *,
                        created_by: str | None = None, form_id: str | None = None,
                        task_id: str | None = None) -> str:
        """Start ``actor(*args, **kwargs)`` as a task and return its id (the ``/api/v1/tasks`` record's).

        ``created_by`` owns the task; ``form_id`` names the form it works on, so
        whoever loses sight of that form loses sight of the task too;
        ``task_id`` is for callers that must name the task before it exists.
        """

    @abstractmethod
    def enqueue_many(self, calls: Sequence[Call]) -> bool:
        """Start every call now (True) or, while the broker is unreachable, through the outbox (False)."""

    @abstractmethod
    def replay(self, message: Mapping[str, Any]) -> bool:
        """Run a stored task message again with fresh retries; True if enqueued now, False if deferred."""

    @abstractmethod
    def nudge(self, call: Call) -> bool:
        """Best effort, no outbox: for wake-ups that a periodic sweep repeats anyway (False: not sent)."""

    @abstractmethod
    def workers_ready(self) -> bool:
        """``/ready``'s "workers" check: every queue the API feeds has a live worker."""

    def queue_depth(self, queue: str) -> int | None:
        """Messages of ``queue`` in the broker (waiting, delayed and in flight); None when it cannot say.

        Cheap (one round trip): the AI endpoints read it on every request to bound the ``ai`` queue.
        """
        return None


class NoDispatcher(Dispatcher):
    """The container's default until a composition root plugs a real one in: every use says so.

    The CLI and the workers build services that never start tasks over HTTP;
    failing loudly beats a silently dropped task if one ever tries.
    """

    def _refuse(self) -> NoReturn:
        raise RuntimeError("no task dispatcher is plugged into these services (app.factory.create_app does it)")

    def enqueue_tracked(self, actor: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *,
                        created_by: str | None = None, form_id: str | None = None,
                        task_id: str | None = None) -> str:
        self._refuse()

    def enqueue_many(self, calls: Sequence[Call]) -> bool:
        self._refuse()

    def replay(self, message: Mapping[str, Any]) -> bool:
        self._refuse()

    def nudge(self, call: Call) -> bool:
        self._refuse()

    def workers_ready(self) -> bool:
        return False
