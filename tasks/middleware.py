"""The fms middleware: one place decides what happens to a task, one keeps workers visible.

:class:`Lifecycle` replaces Dramatiq's ``Retries``: it carries the request id
from the enqueuing code into the task's log lines, keeps the task record
(queued → running → succeeded / failed / dead / cancelled), decides retries
(exponential backoff with full jitter, ``Retry-After`` honoured, retryable vs
non-retryable, see :mod:`tasks.errors`) and counts outcomes. Retry decision,
record and metric are made in one hook so they can never disagree.

One run at a time per tracked task: the broker delivers at least once (the
outbox relay can enqueue a message twice, see :mod:`tasks.deferred`), so a
copy of a message can arrive while another copy runs. A run holds a lease in
Redis (``fms:task-lease:<id>``, renewed by the heartbeat thread, released
when the run ends); a copy that finds the lease held is skipped. A record
saying ``running`` is not enough to skip: a worker killed mid-task leaves it
so, and Dramatiq requeues that worker's unacked message, which must run.
The lease lives shorter than the broker's dead-worker timeout, so by the time
that requeue happens the dead run's lease is gone.

:class:`Heartbeat` runs a thread per worker process that writes the worker
heartbeat ``/ready`` reports, keeps the broker's own heartbeat fresh during
long tasks, samples queue depth and interrupts tasks whose cancellation was
requested. :class:`MetricsFiles` drops a stopping worker process's live gauges (none yet).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import socket
import threading
import time
import traceback
import uuid
from typing import Any

import redis
from dramatiq.middleware import Middleware, SkipMessage, TimeLimitExceeded
from dramatiq.middleware.threading import raise_thread_exception

from app.observability import context
from app.settings import Settings
from app.util import now_iso
from tasks import metrics, runtime
from tasks.deferred import DEFERRED_OPTION
from tasks.errors import TaskCancelled, is_retryable, retry_after_of
from tasks.heartbeat import HEARTBEAT_PREFIX

log = logging.getLogger("tasks")
_local = threading.local()
MAX_RETRY_AFTER_MS = 3_600_000
RESULT_LIMIT = 64_000
RETRY_ENQUEUE_PATIENCE = 600.0  # seconds
LEASE_PREFIX = "fms:task-lease:"
_RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_RENEW_LUA = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end "
              "return 0")


def lease_ms(settings: Settings) -> int:
    """How long a run's lease lives unrenewed: the worker heartbeat's TTL, but always under half the
    broker's dead-worker timeout, so the message requeued from a dead worker finds its lease expired."""
    return max(200, min(settings.worker_heartbeat_ttl * 1000, settings.broker_heartbeat_timeout // 2))


def backoff_ms(retries: int, min_backoff: int, max_backoff: int, rng: random.Random | None = None) -> int:
    """Delay before retry number ``retries + 1``: ``min * 2**retries`` capped, with jitter.

    "Equal jitter": half the exponential step is fixed, half random, so
    retries of many failed tasks spread out but never come back sooner than
    half the nominal delay.
    """
    step = min(max_backoff, min_backoff * (2 ** max(retries, 0)))
    r = (rng or random).random()
    return int(step / 2 + r * step / 2)


def current_task() -> dict[str, Any] | None:
    """The message this thread processes (id, actor, queue, retries so far, max_retries, enqueued_ms), or None."""
    return getattr(_local, "task", None)


def last_attempt() -> bool:
    """True when the current task will not be retried after this attempt."""
    task = current_task()
    return task is None or task["retries"] >= task["max_retries"]


def stash_result(value: Any) -> None:
    _local.result = value


def _json_safe(value: Any) -> Any:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)[:RESULT_LIMIT]
    return json.loads(text) if len(text) <= RESULT_LIMIT else {"truncated": text[:RESULT_LIMIT]}


def _error(exc: BaseException, retryable: bool) -> dict[str, Any]:
    if isinstance(exc, TimeLimitExceeded):
        return {"type": "TimeLimitExceeded", "message": "time limit exceeded", "retryable": False}
    error = {"type": type(exc).__name__, "message": str(exc)[:2000], "retryable": retryable}
    if isinstance(getattr(exc, "code", None), str):  # a machine-readable reason, e.g. queue_wait_exceeded
        error["code"] = exc.code  # type: ignore[attr-defined]
    return error


class Lifecycle(Middleware):
    """Request ids, task records, retries and outcome metrics (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: dict[str, int] = {}  # tracked task id -> worker thread id
        self.leases: dict[str, str] = {}  # tracked task id -> this process's lease token
        self.lease_ms = lease_ms(settings)

    @property
    def actor_options(self) -> set[str]:
        return {"track", "max_retries", "min_backoff", "max_backoff"}

    # helpers -------------------------------------------------------------------------
    @staticmethod
    def _store() -> Any:
        return runtime.services().store

    @staticmethod
    def _tracked(broker: Any, message: Any) -> bool:
        if message.options.get("track") is not None:
            return bool(message.options["track"])
        try:
            return bool(broker.get_actor(message.actor_name).options.get("track"))
        except Exception:  # noqa: BLE001 - unknown actor: no record
            return False

    def _max_retries(self, broker: Any, message: Any) -> int:
        if "max_retries" in message.options:
            return int(message.options["max_retries"])
        actor = broker.get_actor(message.actor_name)
        return int(actor.options.get("max_retries", self.settings.task_max_retries))

    @staticmethod
    def _message_dict(message: Any) -> dict[str, Any]:
        data = message.asdict()
        data["options"] = {k: v for k, v in data.get("options", {}).items() if k not in ("traceback",)}
        data["queue_name"] = data["queue_name"].removesuffix(".DQ")
        return data

    def _record(self, message: Any, state: str, **fields: Any) -> None:
        """Create the record if missing, else update it (used for untracked failures too)."""
        now = now_iso()
        changes = {"state": state, "updated_at": now, **fields}
        store = self._store()
        if store.update_task(message.message_id, changes) is None:
            store.put_task({
                "id": message.message_id, "actor": message.actor_name,
                "queue": message.queue_name.removesuffix(".DQ"), "created_at": now,
                "request_id": message.options.get("request_id"), "created_by": message.options.get("created_by"),
                "message": self._message_dict(message), **changes,
            })

    # enqueue -------------------------------------------------------------------------------
    def before_enqueue(self, broker: Any, message: Any, delay: int | None) -> None:
        if "request_id" not in message.options:
            message.options["request_id"] = context.request_id.get()
        message.options["enqueued_ms"] = int(time.time() * 1000) + (delay or 0)
        # The relay enqueueing a message the API deferred to the outbox (tasks.deferred): its record
        # was written when the API accepted it and may have moved on since (cancelled): keep it.
        deferred = message.options.pop(DEFERRED_OPTION, False)
        if deferred or message.options.get("retries") or not self._tracked(broker, message):
            return
        now = now_iso()
        record = {
            "id": message.message_id, "actor": message.actor_name, "queue": message.queue_name,
            "state": "queued", "progress": 0.0, "attempts": 0, "max_retries": self._max_retries(broker, message),
            "message": self._message_dict(message), "request_id": message.options.get("request_id"),
            "created_by": message.options.get("created_by"), "created_at": now, "enqueued_at": now, "updated_at": now,
        }
        store = self._store()
        if not store.put_task(record):  # a replay of an existing task: back to queued
            store.update_task(message.message_id, {
                "state": "queued", "progress": 0.0, "attempts": 0, "error": None, "result": None,
                "cancel_requested": 0, "enqueued_at": now, "started_at": None, "finished_at": None,
                "updated_at": now, "message": record["message"]})

    # processing ------------------------------------------------------------------------------
    def before_process_message(self, broker: Any, message: Any) -> None:
        token = context.request_id.set(message.options.get("request_id"))
        _local.token, _local.started, _local.result = token, time.perf_counter(), None
        _local.task = {"id": message.message_id, "actor": message.actor_name, "queue": message.queue_name,
                       "tracked": False, "retries": int(message.options.get("retries", 0)),
                       "max_retries": self._max_retries(broker, message)}
        queue = message.queue_name
        enqueued = message.options.get("enqueued_ms") or message.message_timestamp
        _local.task["enqueued_ms"] = enqueued  # when it became due in the broker: the queue wait starts here
        metrics.TASK_LATENCY.labels(queue, message.actor_name).observe(max(0.0, time.time() - enqueued / 1000))
        if not self._tracked(broker, message):
            return
        if not self._take_lease(broker, message.message_id):
            log.info("task skipped: another run of it holds the lease", extra={"task_id": message.message_id})
            raise SkipMessage("task is running elsewhere")
        now = now_iso()
        attempts = int(message.options.get("retries", 0)) + 1
        store = self._store()
        # "running" too: a record a killed worker left so; the lease says no live run has it.
        rec = store.update_task(message.message_id, {"state": "running", "attempts": attempts, "started_at": now,
                                                     "updated_at": now}, states=("queued", "running"))
        if rec is None:
            existing = store.get_task(message.message_id)
            if existing is not None:  # cancelled while queued, or a duplicate of finished work
                log.info("task skipped", extra={"task_id": message.message_id, "state": existing["state"]})
                raise SkipMessage(f"task is {existing['state']}")
        _local.task["tracked"] = True
        self.running[message.message_id] = threading.get_ident()

    # leases ----------------------------------------------------------------------------------
    def _take_lease(self, broker: Any, task_id: str) -> bool:
        """True when this thread may run ``task_id`` now (it holds the lease, or Redis could not say)."""
        token = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:12]}"
        try:
            taken = broker.client.set(LEASE_PREFIX + task_id, token, nx=True, px=self.lease_ms)
        except redis.RedisError as exc:  # the message did come from Redis; better a rare duplicate than a loss
            log.warning("task lease unavailable; running without one", extra={"task_id": task_id, "error": repr(exc)})
            return True
        if not taken:
            return False
        _local.lease = (broker, task_id, token)
        self.leases[task_id] = token
        return True

    def _release_lease(self) -> None:
        """Give up this thread's lease, if it holds one (only its own: compare and delete)."""
        held = getattr(_local, "lease", None)
        _local.lease = None
        if held is None:
            return
        broker, task_id, token = held
        if self.leases.get(task_id) == token:
            self.leases.pop(task_id, None)
        try:
            broker.client.eval(_RELEASE_LUA, 1, LEASE_PREFIX + task_id, token)
        except redis.RedisError as exc:  # it expires on its own
            log.warning("task lease not released", extra={"task_id": task_id, "error": repr(exc)})

    def renew_leases(self, client: redis.Redis) -> None:
        """Keep the leases of this process's running tasks alive (the heartbeat thread calls this)."""
        for task_id, token in list(self.leases.items()):
            client.eval(_RENEW_LUA, 1, LEASE_PREFIX + task_id, token, self.lease_ms)

    def after_skip_message(self, broker: Any, message: Any) -> None:
        metrics.TASK_OUTCOMES.labels(message.queue_name, message.actor_name, "skipped").inc()
        self._reset()

    def after_process_message(self, broker: Any, message: Any, *, result: Any = None,
                              exception: BaseException | None = None) -> None:
        try:
            self._finish(broker, message, exception)
        finally:
            self._reset()

    def _reset(self) -> None:
        self._release_lease()
        task = getattr(_local, "task", None)
        if task is not None and self.running.get(task["id"]) == threading.get_ident():
            self.running.pop(task["id"], None)  # only this thread's run, not another copy's
        token = getattr(_local, "token", None)
        if token is not None:
            context.request_id.reset(token)
        _local.token = _local.task = None

    def _finish(self, broker: Any, message: Any, exception: BaseException | None) -> None:
        queue, actor = message.queue_name, message.actor_name
        elapsed = time.perf_counter() - getattr(_local, "started", time.perf_counter())
        metrics.TASK_RUN.labels(queue, actor).observe(elapsed)
        tracked = bool((current_task() or {}).get("tracked"))
        now = now_iso()
        if exception is None:
            metrics.TASK_OUTCOMES.labels(queue, actor, "succeeded").inc()
            # One line per finished task, so a request id can be followed through every task it caused.
            log.info("task succeeded", extra={"task_id": message.message_id, "actor": actor, "queue": queue,
                                              "duration_ms": round(elapsed * 1000, 1)})
            if tracked:
                self._store().update_task(message.message_id, {
                    "state": "succeeded", "progress": 100.0, "result": _json_safe(getattr(_local, "result", None)),
                    "error": None, "finished_at": now, "updated_at": now})
            return
        if isinstance(exception, TaskCancelled):
            metrics.TASK_OUTCOMES.labels(queue, actor, "cancelled").inc()
            self._record(message, "cancelled", finished_at=now, error={"type": "TaskCancelled",
                                                                       "message": "cancelled", "retryable": False})
            return
        retryable = is_retryable(exception) and not isinstance(exception, TimeLimitExceeded)
        retries = int(message.options.get("retries", 0))
        max_retries = self._max_retries(broker, message)
        error = _error(exception, retryable)
        if retryable and retries < max_retries:
            delay = self._delay(broker, message, exception, retries)
            message.options["retries"] = retries + 1
            message.options["traceback"] = traceback.format_exc(limit=10)
            metrics.TASK_RETRIES.labels(queue, actor).inc()
            metrics.TASK_OUTCOMES.labels(queue, actor, "retried").inc()
            log.warning("task will be retried", extra={"task_id": message.message_id, "actor": actor,
                                                      "retry": retries + 1, "delay_ms": delay, "error": error})
            if tracked:
                self._store().update_task(message.message_id, {"state": "queued", "error": error, "updated_at": now})
            self._release_lease()  # before the retry exists, so it never meets this run's lease
            self._enqueue_retry(broker, message, delay)
            return
        message.fail()
        state = "dead" if retryable else "failed"
        metrics.TASK_OUTCOMES.labels(queue, actor, state).inc()
        if state == "dead":
            metrics.TASKS_DEAD.labels(queue, actor).inc()
        log.error(f"task {state}", extra={"task_id": message.message_id, "actor": actor, "error": error,
                                          "attempts": retries + 1})
        self._record(message, state, error=error, attempts=retries + 1, finished_at=now,
                     max_retries=max_retries)

    @staticmethod
    def _enqueue_retry(broker: Any, message: Any, delay: int) -> None:
        """Enqueue the retry, waiting out a Redis outage: the message is acked right after this,
        so giving up here would lose the task (the same stance Dramatiq takes for acks)."""
        deadline = time.monotonic() + RETRY_ENQUEUE_PATIENCE
        while True:
            try:
                broker.enqueue(message, delay=delay)
                return
            except redis.ConnectionError as exc:
                if time.monotonic() > deadline:
                    log.error("could not enqueue a retry; the task is lost", extra={"task_id": message.message_id})
                    raise
                log.warning("broker unreachable; retry enqueue waits", extra={"error": repr(exc)})
                time.sleep(1.0)

    def _delay(self, broker: Any, message: Any, exception: BaseException, retries: int) -> int:
        actor = broker.get_actor(message.actor_name)
        lo = int(actor.options.get("min_backoff", self.settings.task_min_backoff))
        hi = int(actor.options.get("max_backoff", self.settings.task_max_backoff))
        delay = backoff_ms(retries, lo, hi)
        after = retry_after_of(exception)
        if after is not None:
            delay = max(delay, min(int(after * 1000), MAX_RETRY_AFTER_MS))
        return delay


class Heartbeat(Middleware):
    """A thread per worker process: heartbeats, broker maintenance, queue depth, cancellation."""

    def __init__(self, settings: Settings, interval: float = 1.0) -> None:
        self.settings = settings
        self.interval = interval
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.key = f"{HEARTBEAT_PREFIX}{socket.gethostname()}:{os.getpid()}"

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        """Apply FMS_QUEUE_PREFETCH / FMS_WORKER_TIMEOUT_MS before the consumers start."""
        if self.settings.queue_prefetch:
            worker.queue_prefetch = self.settings.queue_prefetch
        worker.worker_timeout = self.settings.worker_timeout_ms

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        self.stop.clear()
        self.key = f"{HEARTBEAT_PREFIX}{socket.gethostname()}:{os.getpid()}"
        self.thread = threading.Thread(target=self._run, args=(broker, worker), name="fms-heartbeat", daemon=True)
        self.thread.start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(5)
        with contextlib.suppress(Exception):  # Redis may be gone at shutdown
            broker.client.delete(self.key)

    def _run(self, broker: Any, worker: Any) -> None:
        while not self.stop.is_set():
            try:
                self.beat(broker, worker)
            except Exception as exc:  # noqa: BLE001 - keep beating through Redis/store outages
                log.warning("heartbeat failed", extra={"error": repr(exc)})
            self.stop.wait(self.interval)

    def beat(self, broker: Any, worker: Any, maintain: bool = True) -> None:
        queues = sorted({q.removesuffix(".DQ") for q in (getattr(worker, "queues", None)
                                                         or getattr(worker, "consumers", {}))})
        if maintain:
            for queue in queues:
                metrics.QUEUE_DEPTH.labels(queue).set(broker.maintain(queue))
        lifecycle = next((m for m in broker.middleware if isinstance(m, Lifecycle)), None)
        running = dict(lifecycle.running) if lifecycle else {}
        process, at = os.environ.get("FMS_PROCESS", ""), time.time()
        payload = {"process": process, "host": socket.gethostname(), "pid": os.getpid(),
                   "queues": queues, "running": len(running), "at": at}
        broker.client.set(self.key, json.dumps(payload), ex=self.settings.worker_heartbeat_ttl)
        metrics.record_heartbeat(broker.client, process, queues, at)
        if lifecycle is not None:
            lifecycle.renew_leases(broker.client)
        if running:
            self._cancel_requested(running)

    @staticmethod
    def _cancel_requested(running: dict[str, int]) -> None:
        store = runtime.services().store
        for task_id, thread_id in running.items():
            rec = store.get_task(task_id)
            if rec is not None and rec["cancel_requested"] and rec["state"] == "running":
                log.info("cancelling running task", extra={"task_id": task_id})
                raise_thread_exception(thread_id, TaskCancelled)


class MetricsFiles(Middleware):
    """Drop this worker process's live gauges from the multiprocess directory when it stops.

    Why here, in each child: dramatiq's main process runs none of our code (it imports ``tasks.worker``
    only in the children it forks) and has no hook for a child's exit, so nothing there could call
    ``mark_process_dead`` the way gunicorn's ``child_exit`` does. It never respawns a child either:
    when one dies the main process stops the others and exits, the unit restarts, and its start step
    (``app.observability.multiproc``) empties the whole directory. Left for a clean stop: a child's
    ``live*`` gauges would count it as alive until then.

    A no-op today: every worker gauge is ``mostrecent`` (tasks.metrics), which ``mark_process_dead``
    leaves alone. Kept so that a ``live*`` gauge added later is right without anyone remembering this.
    """

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())
