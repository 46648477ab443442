"""The broker: Dramatiq's Redis broker with a blocking wake-up and batch enqueue.

Why a subclass. Stock Dramatiq consumers poll Redis with a backoff that
grows to ``dramatiq_worker_timeout`` (1 s), so an idle worker notices a new
message 150-450 ms late — too slow for the ``high`` queue, where a user is
waiting. Here every enqueue also pushes a token on ``<ns>:<queue>.wake`` (in
the same Lua call), and an idle consumer blocks on that list with ``BLPOP``
instead of sleeping: it wakes within a round trip of the enqueue and still
re-polls at least every ``worker_timeout`` (so heartbeats and delayed
messages keep flowing). The message layout (``<ns>:<queue>`` list,
``<ns>:<queue>.msgs`` hash) is Dramatiq's own, so stock consumers interoperate;
it is pinned by requirements.txt and covered by the tests.

Batch enqueue (:meth:`FmsRedisBroker.enqueue_many`) sends many messages in
one Redis pipeline — the outbox relay uses it; Dramatiq's ``group().run()``
enqueues one round trip at a time.

Actors are declared with :func:`actor`, which routes them by name
(:mod:`tasks.routing`) and applies the queue's time limit. :func:`configure`
(re)binds every declared actor to a broker built from settings, so tests and
benchmarks can point the same actors at their own Redis.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from uuid import uuid4

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis, dq_name, q_name
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message
from dramatiq.middleware import Middleware, TimeLimit

from app.settings import Settings
from app.util import new_id
from tasks import runtime
from tasks.routing import QUEUES, parse_time_limits, queue_for

log = logging.getLogger("tasks")
WAKE_CAP = 256  # tokens kept per queue; enough to wake every idle consumer
ENQUEUE_LUA = """
redis.call("hset", KEYS[2], ARGV[1], ARGV[2])
redis.call("rpush", KEYS[1], ARGV[1])
redis.call("lpush", KEYS[3], "1")
redis.call("ltrim", KEYS[3], 0, tonumber(ARGV[3]) - 1)
return 1
"""
_REPLAY_DROP = ("retries", "traceback", "redis_message_id", "eta", "requeue_timestamp", "enqueued_ms")


class WakeConsumer(_RedisConsumer):
    """A Redis consumer that blocks on the wake list instead of sleeping when idle.

    It also recovers orphans. A fetch moves messages into this worker's acks
    set in Redis; when the connection drops (a Redis restart), Dramatiq throws
    the consumer away with its prefetched messages, and a fetch whose reply was
    lost leaves its messages there too. The worker is still alive and
    heartbeating, so nobody would ever requeue them. A consumer that replaces
    one therefore hands every acked-but-not-held message back to the queue
    before it fetches (the broker remembers what its worker threads hold).
    """

    def __init__(self, broker: FmsRedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        self.wake_key = broker.wake_key(queue_name)
        self.room = threading.Event()  # set when an ack/nack frees a prefetch slot
        self.held = broker.held(queue_name)
        self.recover = True

    def ack(self, message: Any) -> None:
        try:
            super().ack(message)
        finally:
            self.held.discard(message.options.get("redis_message_id"))
            self.room.set()

    def nack(self, message: Any) -> None:
        try:
            super().nack(message)
        finally:
            self.held.discard(message.options.get("redis_message_id"))
            self.room.set()

    def requeue_orphans(self) -> int:
        """Requeue messages in this worker's acks set that no worker thread holds."""
        acks = f"{self.broker.namespace}:__acks__.{self.broker.broker_id}.{self.queue_name}"
        orphans = [m.decode() if isinstance(m, bytes) else m for m in self.broker.client.smembers(acks)]
        orphans = [m for m in orphans if m not in self.held]
        if orphans:
            self.broker.do_requeue(self.queue_name, *orphans)
            log.warning("requeued orphaned messages", extra={"queue": self.queue_name, "count": len(orphans)})
        self.recover = False
        return len(orphans)

    def __next__(self) -> Any:
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:  # a message hash entry vanished (see Dramatiq #266)
                        continue
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    self.held.add(message.options["redis_message_id"])
                    return dramatiq.MessageProxy(message)
                if self.recover:
                    self.requeue_orphans()
                self.room.clear()
                outstanding = self.outstanding_message_count
                room = self.prefetch - outstanding
                if room <= 0 or (outstanding and room < self.prefetch // 2):
                    # Enough work in hand: refill when half the prefetch is free (one fetch for
                    # many messages) rather than one round trip per ack.
                    self.room.wait(self.timeout / 1000)
                    return None
                self.message_cache = self.broker.do_fetch(self.queue_name, room)
                if not self.message_cache:
                    self.broker.client.blpop([self.wake_key], timeout=max(self.timeout / 1000, 0.001))
                    return None
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None


class FmsRedisBroker(RedisBroker):
    """Dramatiq's RedisBroker plus the wake-up list, batch enqueue and forced maintenance."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._enqueue_script = self.client.register_script(ENQUEUE_LUA)
        self._held: dict[str, set[str]] = {}
        self._held_lock = threading.Lock()

    def held(self, queue_name: str) -> set[str]:
        """Redis ids of ``queue_name`` messages handed to this process's worker threads, not yet acked."""
        with self._held_lock:
            return self._held.setdefault(queue_name, set())

    @property
    def consumer_class(self) -> type[WakeConsumer]:
        return WakeConsumer

    def wake_key(self, queue_name: str) -> str:
        return f"{self.namespace}:{queue_name}.wake"

    def _keys(self, queue_name: str) -> list[str]:
        full = f"{self.namespace}:{queue_name}"
        return [full, f"{full}.msgs", self.wake_key(queue_name)]

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> Any:  # overrides the Lua dispatch
        return self._enqueue_script(keys=self._keys(queue_name), args=[message_id, data, WAKE_CAP])

    def enqueue_many(self, messages: Iterable[Message]) -> list[Message]:
        """Enqueue many messages in one pipeline (middleware hooks run for each)."""
        prepared = []
        for message in messages:
            message = message.copy(options={"redis_message_id": str(uuid4())})
            self.emit_before("enqueue", message, None)
            prepared.append(message)
        if not prepared:
            return []
        pipe = self.client.pipeline(transaction=False)
        for message in prepared:
            self._enqueue_script(keys=self._keys(message.queue_name),
                                 args=[message.options["redis_message_id"], message.encode(), WAKE_CAP], client=pipe)
        pipe.execute()
        for message in prepared:
            self.emit_after("enqueue", message, None)
        return prepared

    def maintain(self, queue_name: str) -> int:
        """Refresh this process's broker heartbeat and requeue dead workers' messages now.

        Dramatiq does this maintenance on 0.1 % of commands only, and a worker
        busy with one long task sends no command at all — the broker would then
        believe it dead and hand its message to another worker (Dramatiq #692).
        Worker heartbeats call this every few seconds for each queue they serve.
        Returns the queue's depth (waiting + in flight).
        """
        dispatch = self.scripts["dispatch"]
        depth = 0
        for name in (queue_name, dq_name(queue_name)):
            args = ["qsize", current_millis(), name, self.broker_id, self.heartbeat_timeout,
                    self.dead_message_ttl, 1, self._max_unpack_size()]
            result = dispatch(args=args, keys=[self.namespace])
            if name == queue_name:
                depth = int(result)
        return depth


# -- actors --------------------------------------------------------------------------
_lock = threading.RLock()
_broker: FmsRedisBroker | None = None
_ACTORS: dict[str, dramatiq.Actor] = {}
_EXPLICIT_LIMIT: set[str] = set()


def build_broker(settings: Settings) -> FmsRedisBroker:
    """A broker on ``settings.redis_url`` with the fms middleware stack."""
    from tasks.middleware import Heartbeat, Lifecycle, MetricsFiles

    limits = parse_time_limits(settings.task_time_limits)
    middleware: list[Middleware] = [
        TimeLimit(time_limit=max(limits.values(), default=600_000), interval=250),
        Lifecycle(settings),
        Heartbeat(settings),
        MetricsFiles(),
    ]
    url = settings.redis_url or "redis://127.0.0.1:6379/0"
    broker = FmsRedisBroker(url=url, middleware=middleware, heartbeat_timeout=settings.broker_heartbeat_timeout)
    for queue in QUEUES:  # a worker serves its queues even before any actor of them is imported
        broker.declare_queue(queue)
    return broker


def _time_limit(queue: str, settings: Settings) -> int:
    return parse_time_limits(settings.task_time_limits).get(queue, 600_000)


def _bind(actor_obj: dramatiq.Actor, broker: FmsRedisBroker, settings: Settings) -> None:
    actor_obj.broker = broker
    if actor_obj.actor_name not in _EXPLICIT_LIMIT:
        actor_obj.options["time_limit"] = _time_limit(actor_obj.queue_name, settings)
    broker.declare_actor(actor_obj)


def configure(settings: Settings, services: Any = None) -> FmsRedisBroker:
    """Build the broker for ``settings``, make it current and rebind every declared actor."""
    global _broker
    with _lock:
        runtime.use(settings, services)
        broker = build_broker(settings)
        dramatiq.set_broker(broker)
        for actor_obj in _ACTORS.values():
            _bind(actor_obj, broker, settings)
        old, _broker = _broker, broker
    if old is not None:
        old.client.connection_pool.disconnect()
    return broker


def current() -> FmsRedisBroker:
    """The process's broker, configured from the environment on first use."""
    if _broker is None:
        with _lock:
            if _broker is None:
                configure(runtime.settings())
    return _broker  # type: ignore[return-value]


def actor(name: str, *, track: bool = False, max_retries: int | None = None, time_limit: int | None = None,
          **options: Any) -> Callable[[Callable[..., Any]], dramatiq.Actor]:
    """Declare an actor routed by its name.

    ``track``: keep a task record from enqueue on (API-started work); every
    actor gets a record anyway once it fails or dies. ``max_retries`` overrides
    FMS_TASK_MAX_RETRIES; ``time_limit`` (ms) overrides the queue's limit.
    """

    def decorate(fn: Callable[..., Any]) -> dramatiq.Actor:
        opts: dict[str, Any] = {"track": track, **options}
        if max_retries is not None:
            opts["max_retries"] = max_retries
        if time_limit is not None:
            opts["time_limit"] = time_limit
            _EXPLICIT_LIMIT.add(name)
        broker = current()
        if name in broker.actors:  # module imported twice (e.g. as __main__): keep the first
            return broker.actors[name]
        queue = queue_for(name)
        if "time_limit" not in opts:
            opts["time_limit"] = _time_limit(queue, runtime.settings())
        actor_obj = dramatiq.Actor(_stashing(fn), broker=broker, actor_name=name, queue_name=queue, priority=0,
                                   options=opts)
        _ACTORS[name] = actor_obj
        return actor_obj

    return decorate


def _stashing(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Hand the return value to the task record instead of to Dramatiq (which has no result backend here)."""
    from tasks.middleware import stash_result

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        stash_result(fn(*args, **kwargs))

    return run


def message_for(actor_obj: dramatiq.Actor, *args: Any, task_id: str | None = None, created_by: str | None = None,
                options: dict[str, Any] | None = None, **kwargs: Any) -> Message:
    """A message for ``actor_obj`` whose id (the task id) is a time-sortable ULID."""
    opts = dict(options or {})
    if created_by:
        opts["created_by"] = created_by
    return Message(queue_name=actor_obj.queue_name, actor_name=actor_obj.actor_name, args=tuple(args),
                   kwargs=kwargs, options=opts, message_id=task_id or new_id(), message_timestamp=current_millis())


def send(actor_obj: dramatiq.Actor, *args: Any, task_id: str | None = None, created_by: str | None = None,
         **kwargs: Any) -> Message:
    """Enqueue a call; the returned message's id is the task id."""
    message = message_for(actor_obj, *args, task_id=task_id, created_by=created_by, **kwargs)
    return current().enqueue(message)


def replay(message: dict[str, Any]) -> Message:
    """Enqueue a stored (dead, failed or cancelled) message again, with fresh retries."""
    return current().enqueue(replay_message(message))


def replay_message(message: dict[str, Any]) -> Message:
    """The message that runs a stored (dead, failed or cancelled) one again, with fresh retries."""
    broker = current()
    name = message["actor_name"]
    queue = broker.actors[name].queue_name if name in broker.actors else queue_for(name)
    options = {k: v for k, v in (message.get("options") or {}).items() if k not in _REPLAY_DROP}
    options["replayed_at"] = int(time.time() * 1000)
    options["track"] = True  # it has a record now (even an untracked actor's failure): keep it current
    return Message(queue_name=q_name(queue), actor_name=name,
                   args=tuple(message.get("args") or ()), kwargs=dict(message.get("kwargs") or {}), options=options,
                   message_id=message["message_id"], message_timestamp=current_millis())
