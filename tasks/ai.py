"""AI actors: fill, summarize, benchmark (queue ``ai``), embed (queue ``embed``) — plus the hook that starts embeds.

Routing additions (made at import, which every worker and the relay do via
``tasks.registry``): ``submission.created`` also goes to ``hooks.ai_embed``
(default queue; it enqueues ``ai.embed`` only for forms with
``settings.ai.embed``), and the ``ai.completed`` topic — written to the outbox
when a fill or summary finishes — goes to ``webhook.fanout``.

One LLM engine process (``llama``) per worker process, created on first use
and kept: loading costs ~1 s, a fill ~1-5 s, so reloading per task would
dominate. It runs in a child process (:class:`inference.isolation.EngineProcess`),
so the hard FMS_AI_TIMEOUT kills only the child and the worker's heartbeat
thread keeps running during long native calls. Threads = the cores this
process may run on (``os.sched_getaffinity``), i.e. what systemd pinned the AI
worker to.

Embeddings (``ai.embed``, a range summary's themes) come from the host's one
``embedder`` process (:mod:`inference.embed_server`, the one that embeds the
API's ``similar`` queries) as ``bulk`` requests, which yield to those queries:
MiniLM is loaded once per host, not once more here (~190 MB). The embedder
down, slow or serving another model fails ``ai.embed`` as Retryable, and
Dramatiq retries it with backoff (:data:`EMBED_MAX_RETRIES`) until it is back;
nothing is stored before the vectors are in hand. ``ai.embed`` has its own
queue (``embed``, on worker-default), so those retries neither count toward
FMS_AI_QUEUE_MAX nor hold the serial AI worker; a circuit breaker per embedder
socket (:func:`tasks.breaker.call_concurrently`) makes the attempts after a
few timeouts or refusals fail fast until a trial call gets an answer. A form
summary's themes embed within what is left of the task's time limit, so the
summary the LLM already wrote is never lost to the themes step.

A circuit breaker (:mod:`tasks.breaker`) wraps every engine call: load
failures, crashes and timeouts count; bad input does not. When it opens, the
worker flags it in the cache Redis so the API answers 503
``model_unavailable`` instead of accepting work that would fail.

Each result carries per-task metrics: queue wait, model load ms (0 when the
engine was already warm), time to first token, prompt and generation tokens/s;
the same figures go to the Prometheus histograms of :mod:`tasks.metrics`
(``fms_ai_*``), which ``/metrics`` aggregates from the worker's multiprocess files.

Bounded inference: a fill or summary that waited in the queue longer than
FMS_AI_MAX_QUEUE_WAIT fails with ``queue_wait_exceeded`` before the model is
touched (whoever asked has most likely given up; running it would only delay
the jobs behind it). The engines' state (loading, loaded, failed; model and
sha256; load time) and the recent job time are published for ``/ready`` and
the API's ``Retry-After`` (:mod:`app.ai.capacity`), renewed by a small thread
while the worker lives.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pybreaker
from dramatiq.threading import Interrupt

from app.ai import capacity
from app.ai import service as ai
from app.observability import context
from app.util import new_id, now_iso
from tasks import metrics, runtime
from tasks.breaker import breaker_for, call_concurrently, open_remaining_s
from tasks.broker import actor, send
from tasks.errors import Permanent, Retryable, TaskCancelled
from tasks.middleware import current_task
from tasks.progress import progress

log = logging.getLogger("tasks.ai")
_lock = threading.Lock()
_engines: dict[str, Any] = {}
_spec_keys: dict[str, tuple[Any, ...]] = {}
_flagged: set[str] = set()
INPUT_ERRORS = ("FillError", "GrammarError", "ValueError", "KeyError", "TypeError")
PROGRESS_EVERY_S = 0.25
QUEUE_LIMIT_MARGIN_S = 10.0
# ai.embed retries: backoff doubles from FMS_TASK_MIN_BACKOFF_MS up to FMS_TASK_MAX_BACKOFF_MS, so with the
# defaults (1 s, 5 min) 20 retries span about an hour of embedder downtime before the task is dead (replayable)
EMBED_MAX_RETRIES = 20


class _InputError(Exception):
    """An error caused by the task's input (not the engine): never counted by the breaker."""


class QueueWaitExceeded(Permanent):
    """The job waited in the ``ai`` queue past FMS_AI_MAX_QUEUE_WAIT: failed unrun (its record says ``code``)."""

    code = "queue_wait_exceeded"


# -- engines -------------------------------------------------------------------------------
def _spec(kind: str) -> Any:
    from inference.isolation import EngineSpec

    if kind != "llama":  # embeddings come from the embedder process (_embed_remote)
        raise ValueError(f"no {kind} engine in the AI worker")
    settings = runtime.settings()
    paths = ai.model_paths(settings)
    threads = ai.ai_threads(settings)
    return EngineSpec("llama", str(paths["llm"]), config={"n_threads": threads, "n_threads_batch": threads,
                                                           "n_ctx": 2048})


def engine(kind: str) -> tuple[Any, float]:
    """The kept engine process of ``kind`` and the load ms this call paid (0.0 when warm).

    A changed model path in the settings (model switch) closes the old engine first.
    """
    from inference.isolation import EngineProcess

    spec = _spec(kind)
    key = (spec.model_path, spec.tokenizer_path, tuple(sorted(spec.config.items())))
    with _lock:
        eng = _engines.get(kind)
        if eng is not None and _spec_keys.get(kind) == key:
            return eng, 0.0
        if eng is not None:
            eng.close()
            _engines.pop(kind, None)
        path = Path(spec.model_path)
        _set_state(kind, "loading", model=path.name)
        problem = ai.model_problem(path)
        if problem:
            _set_state(kind, "failed", model=path.name, error=problem)
            raise RuntimeError(problem)
        t0 = time.perf_counter()
        # Start the child empty and load through switch(): a failed load can then be closed
        # here instead of leaving an orphaned child behind for every failed attempt.
        eng = EngineProcess(None, timeout_s=call_timeout_s(runtime.settings()))
        try:
            eng.switch(spec)
        except BaseException as exc:
            eng.close()
            _set_state(kind, "failed", model=path.name, error=str(exc)[:500])
            raise
        _engines[kind], _spec_keys[kind] = eng, key
        load_ms = (time.perf_counter() - t0) * 1000
        metrics.AI_MODEL_LOAD.labels(kind, path.name).observe(load_ms / 1000)
        _set_state(kind, "loaded", model=path.name, model_sha256=ai.file_sha256(path), load_ms=round(load_ms, 1),
                   loaded_at=now_iso())
        return eng, load_ms


def call_timeout_s(settings: Any, queue: str = "ai") -> float:
    """FMS_AI_TIMEOUT, kept below ``queue``'s time limit.

    The engine's own timeout must fire first: it kills and restarts the child.
    Dramatiq's time limit only interrupts the waiting worker thread and would
    leave the child busy with the abandoned call.
    """
    from tasks.routing import parse_time_limits

    queue_s = parse_time_limits(settings.task_time_limits).get(queue, 600_000) / 1000
    return float(max(1.0, min(settings.ai_timeout, queue_s - QUEUE_LIMIT_MARGIN_S)))


def close_engines() -> None:
    """Stop every engine child (tests; worker shutdown)."""
    with _lock:
        for eng in _engines.values():
            eng.close()
        _engines.clear()
        _spec_keys.clear()
        _states.clear()
    _reporter.stop()


def _guarded(kind: str, fn: Any) -> Any:
    """Run ``fn`` through the engine breaker; map failures to task errors and the API's 503 flag."""
    from inference.isolation import EngineError, EngineTimeout

    settings = runtime.settings()
    cb = breaker_for(f"engine:{kind}")
    holder: list[Any] = []

    def call() -> None:
        try:
            holder.append(fn())
        except TaskCancelled as exc:
            holder.append(exc)
        except EngineError as exc:
            if str(exc).split(":", 1)[0] in INPUT_ERRORS and not isinstance(exc, EngineTimeout):
                holder.append(_InputError(str(exc)))
                return
            raise

    try:
        cb.call(call)
    except Interrupt:  # time limit or shutdown while the child works: do not leave it busy
        _restart(kind)
        raise
    except pybreaker.CircuitBreakerError as exc:
        _flag(kind, "circuit open after repeated engine failures", settings)
        raise Permanent(f"model_unavailable: the {kind} engine is failing (circuit open)") from exc
    except EngineTimeout as exc:
        _after_failure(cb, kind, str(exc), settings)
        raise Permanent(f"model call timed out: {exc}") from exc
    except Exception as exc:
        _after_failure(cb, kind, str(exc), settings)
        raise Retryable(f"engine failed: {exc}") from exc
    result = holder[0]
    if isinstance(result, TaskCancelled):
        _restart(kind)  # the child is still busy with the cancelled call
        raise result
    if isinstance(result, _InputError):
        raise Permanent(f"cannot process this input: {result}")
    if kind in _flagged:
        _flagged.discard(kind)
        ai.clear_breaker_flag(runtime.services().cache, kind)
    return result


def _restart(kind: str) -> None:
    with _lock:
        eng = _engines.get(kind)
    if eng is not None:
        eng.restart()


def _after_failure(cb: pybreaker.CircuitBreaker, kind: str, reason: str, settings: Any) -> None:
    log.warning("engine call failed", extra={"kind": kind, "error": reason, "breaker": cb.current_state})
    if cb.current_state == "open":
        _flag(kind, reason, settings)


def _flag(kind: str, reason: str, settings: Any) -> None:
    _flagged.add(kind)
    ai.flag_breaker_open(runtime.services().cache, kind, reason, int(settings.breaker_reset))


# -- engine state, published for /ready and the API's Retry-After (app.ai.capacity) ------------------
_states: dict[str, dict[str, Any]] = {}
_jobs: dict[str, float | None] = {"count": 0, "ewma_s": None}
JOB_EWMA_ALPHA = 0.3  # recent jobs weigh most: the pace the queue drains at now


def _set_state(kind: str, state: str, **info: Any) -> None:
    """Record an engine's state and publish the report at once (a state change should not wait a tick)."""
    _states[kind] = {"state": state, "error": None, **info}
    _reporter.publish()


def _job_finished(seconds: float) -> None:
    prev = _jobs["ewma_s"]
    _jobs["ewma_s"] = seconds if prev is None else JOB_EWMA_ALPHA * seconds + (1 - JOB_EWMA_ALPHA) * prev
    _jobs["count"] = int(_jobs["count"] or 0) + 1


def engine_report() -> dict[str, Any]:
    """What this worker's engines hold and how long its recent AI jobs took (see app.ai.capacity)."""
    ewma = _jobs["ewma_s"]
    return {"worker": f"{socket.gethostname()}:{os.getpid()}", "process": os.environ.get("FMS_PROCESS", ""),
            "at": time.time(), "jobs": _jobs["count"], "job_s": round(ewma, 3) if ewma is not None else None,
            "engines": {k: dict(v) for k, v in _states.items()}}


class _Reporter:
    """Renews the engine report every third of FMS_WORKER_HEARTBEAT_TTL (its TTL), from the first engine use
    on: only the process that runs AI jobs reports, and its report expires soon after it dies."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def publish(self) -> None:
        ttl = int(runtime.settings().worker_heartbeat_ttl)
        try:
            capacity.publish_engine_state(runtime.services().cache, engine_report(), ttl)
        except Exception as exc:  # noqa: BLE001 - reporting must never fail a job
            log.warning("engine state not published", extra={"error": repr(exc)})
        self._ensure()

    def _ensure(self) -> None:
        with self._guard:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="fms-ai-engine-state", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(max(1.0, runtime.settings().worker_heartbeat_ttl / 3)):
            if not _states:
                continue
            ttl = int(runtime.settings().worker_heartbeat_ttl)
            try:
                capacity.publish_engine_state(runtime.services().cache, engine_report(), ttl)
            except Exception as exc:  # noqa: BLE001 - keep renewing through cache outages
                log.warning("engine state not renewed", extra={"error": repr(exc)})

    def stop(self) -> None:
        self._stop.set()
        with self._guard:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5)


_reporter = _Reporter()


# -- metrics and progress -----------------------------------------------------------------------
def _queue_wait_ms(kind: str, limited: bool = True) -> float | None:
    """How long this job waited in the queue (ms), observed; past FMS_AI_MAX_QUEUE_WAIT it fails unrun.

    Measured from when the message became due in the broker (``enqueued_ms``, a retry's backoff
    excluded), as ``fms_task_queue_latency_seconds`` is: time a fill spent in the outbox while
    Redis was down does not count, so the work accepted then still runs once Redis is back.
    """
    task = current_task()
    if not task or not task.get("enqueued_ms"):
        return None
    wait_s = max(0.0, time.time() - float(task["enqueued_ms"]) / 1000)
    metrics.AI_QUEUE_WAIT.labels(kind).observe(wait_s)
    limit = float(runtime.settings().ai_max_queue_wait)
    if limited and limit > 0 and wait_s > limit:
        metrics.AI_QUEUE_WAIT_EXCEEDED.labels(kind).inc()
        raise QueueWaitExceeded(f"queue_wait_exceeded: waited {wait_s:.1f} s in the ai queue, more than "
                                f"FMS_AI_MAX_QUEUE_WAIT={limit:g} s; the model was not run (retry the task)")
    return round(wait_s * 1000, 1)


def _observe(kind: str, model_path: Path, m: dict[str, Any]) -> None:
    """One finished job's result metrics into the ``fms_ai_*`` histograms (and the recent job time)."""
    model = model_path.name
    total_s = float(m.get("total_ms") or 0) / 1000
    metrics.AI_INFERENCE.labels(kind, model).observe(total_s)
    if m.get("prompt_tokens_per_s"):
        metrics.AI_PROMPT_RATE.labels(kind, model).observe(float(m["prompt_tokens_per_s"]))
    if m.get("gen_tokens_per_s"):
        metrics.AI_GEN_RATE.labels(kind, model).observe(float(m["gen_tokens_per_s"]))
    if m.get("llm_calls") is not None:
        metrics.AI_LLM_CALLS.labels(kind, model).observe(float(m["llm_calls"]))
    _job_finished(total_s + float(m.get("load_ms") or 0) / 1000)


class _Progress:
    """Engine progress messages → the task record (throttled; a cancellation point too)."""

    def __init__(self, expected_tokens: int = 64) -> None:
        self.expected = max(1, expected_tokens)
        self.last = -PROGRESS_EVERY_S  # the first message always gets through, whatever the uptime
        self.ttft_ms: float | None = None

    def __call__(self, msg: dict[str, Any]) -> None:
        phase = msg.get("phase")
        if phase == "prefill_done" and self.ttft_ms is None:
            self.ttft_ms = msg.get("ttft_ms")
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S and phase != "prefill_done":
            return
        self.last = now
        if phase == "prefill_done":
            progress(10.0, f"prefill done ({msg.get('prompt_tokens')} prompt tokens)")
        elif phase == "generating":
            n = int(msg.get("tokens") or 0)
            progress(10.0 + 80.0 * min(1.0, n / self.expected), f"generating: {n} tokens")
        elif phase == "fields":
            done, total = int(msg.get("done") or 0), max(1, int(msg.get("of") or 1))
            progress(10.0 + 85.0 * done / total, f"fields {done}/{total}")


def _metrics(load_ms: float, queue_ms: float | None, stats: dict[str, Any], wall_ms: float,
             ttft_ms: float | None = None) -> dict[str, Any]:
    gen = stats.get("gen_tokens") or 0
    prompt = stats.get("prompt_tokens") or 0
    ttft = stats.get("ttft_ms") if stats.get("ttft_ms") is not None else ttft_ms
    gen_ms = stats.get("gen_ms")
    total = stats.get("total_ms") or wall_ms
    gen_tps = stats.get("tokens_per_s")
    if gen_tps is None and gen and gen_ms:
        gen_tps = gen / (gen_ms / 1000)
    prompt_tps = (prompt / (ttft / 1000)) if prompt and ttft else None
    return {"queue_wait_ms": queue_ms, "load_ms": round(load_ms, 1), "ttft_ms": _r(ttft), "total_ms": _r(total),
            "prompt_tokens": prompt, "gen_tokens": gen, "prompt_tokens_per_s": _r(prompt_tps),
            "gen_tokens_per_s": _r(gen_tps), "llm_calls": stats.get("llm_calls")}


def _r(x: Any) -> Any:
    return round(float(x), 1) if isinstance(x, int | float) else x


def _announce(form_id: str, actor_name: str, data: dict[str, Any]) -> None:
    """Write an ``ai.completed`` outbox event: the form's webhooks (``*`` subscribers) hear the task is done.

    Through the outbox like every other event, so a Redis outage at this
    moment delays the webhook instead of losing it.
    """
    task = current_task() or {}
    now = now_iso()
    payload = {"type": COMPLETED_TOPIC, "timestamp": now,
               "data": {"task_id": task.get("id"), "actor": actor_name, "form_id": form_id, **data}}
    runtime.services().store.add_events([{"id": new_id(), "topic": COMPLETED_TOPIC, "key": form_id,
                                          "payload": payload, "created_at": now, "sent_at": None,
                                          "request_id": context.request_id.get()}])


def _svc() -> ai.AIService:
    s = runtime.services()
    return ai.AIService(s.store, s.settings)


# -- actors -------------------------------------------------------------------------------------
@actor("ai.fill", track=True, max_retries=1)
def fill(form_id: str, text: str, user_id: str | None = None, today: str | None = None) -> dict[str, Any]:
    """Free text → a draft submission of the form's current version (its id is the result)."""
    import datetime as dt

    queue_ms = _queue_wait_ms("fill")
    store = runtime.services().store
    form = store.get_form(form_id)
    if form is None:
        raise Permanent(f"form {form_id} not found")
    progress(1.0, "loading model")
    t0 = time.perf_counter()
    eng, load_ms = _guarded("llama", lambda: engine("llama"))
    tracker = _Progress()
    day = dt.date.fromisoformat(today) if today else None
    result = _guarded("llama", lambda: eng.fill(form["schema"], text, today=day, on_progress=tracker,
                                                       budget_s=runtime.settings().fill_budget,
                                                       timeout_s=call_timeout_s(runtime.settings())))
    wall_ms = (time.perf_counter() - t0) * 1000 - load_ms
    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    sha = ai.file_sha256(ai.model_paths(runtime.settings())["llm"])
    task = current_task() or {}
    draft = _svc().create_draft(form, data, user_id, task.get("id") or now_iso(), sha)
    progress(100.0, "draft created")
    _announce(form_id, "ai.fill", {"submission_id": draft["id"], "answers": data["answers"]})
    job = _metrics(load_ms, queue_ms, data.get("stats") or {}, wall_ms, tracker.ttft_ms)
    job["budget_skipped"] = len((data.get("stats") or {}).get("budget_skipped") or [])  # FMS_FILL_BUDGET
    _observe("fill", ai.model_paths(runtime.settings())["llm"], job)
    return {"submission_id": draft["id"], "form_id": form_id, "form_version": draft["form_version"],
            "answers": data["answers"], "evidence": data.get("evidence"), "methods": data.get("methods"),
            "model_sha256": sha, "metrics": job}


def _submission_text(svc: Any, submission_id: str) -> tuple[dict[str, Any], str]:
    """A live submission and its text answers; a missing one is a permanent failure (no retry)."""
    try:
        sub, form = svc.get_submission_form(submission_id)
    except Exception as exc:
        raise Permanent(str(exc)) from exc
    return sub, ai.submission_text(form, sub.get("answers") or {})


@actor("ai.summarize", track=True, max_retries=1)
def summarize(submission_id: str) -> dict[str, Any]:
    """A short summary of one submission's text answers (stored in its meta too)."""
    queue_ms = _queue_wait_ms("summarize")
    svc = _svc()
    sub, text = _submission_text(svc, submission_id)
    if not text:
        return {"submission_id": submission_id, "summary": "", "method": "empty", "metrics": {}}
    t0 = time.perf_counter()
    eng, load_ms = _guarded("llama", lambda: engine("llama"))
    tracker = _Progress()
    result = _guarded("llama", lambda: eng.summarize(text, on_progress=tracker,
                                                            timeout_s=call_timeout_s(runtime.settings())))
    wall_ms = (time.perf_counter() - t0) * 1000 - load_ms
    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    svc.store.set_submission_meta_key(submission_id, "summary", {
        "text": data["summary"], "method": data["method"], "at": now_iso()})
    _announce(sub["form_id"], "ai.summarize", {"submission_id": submission_id, "summary": data["summary"]})
    job = _metrics(load_ms, queue_ms, data.get("stats") or {}, wall_ms, tracker.ttft_ms)
    _observe("summarize", ai.model_paths(runtime.settings())["llm"], job)
    return {"submission_id": submission_id, "summary": data["summary"], "method": data["method"], "metrics": job}


# x FMS_EMBEDDER_TIMEOUT per 16 texts: a 1024-token batch took ~0.6 s on one thread at load 10, so 16 texts
# of 256 tokens (4 batches) ~2.5 s
EMBED_TIMEOUT_FACTOR = 5


def _embedder_timeout_s(settings: Any, n_texts: int, queue: str = "ai") -> float:
    """Per request to the embedder: EMBED_TIMEOUT_FACTOR times what an API query gets (FMS_EMBEDDER_TIMEOUT)
    for each 16 texts, up to FMS_AI_TIMEOUT and below ``queue``'s time limit; a bulk request also waits for
    the queries that go before it. A down embedder refuses at once; this bounds only a stuck one."""
    from inference.embed_server import MAX_BULK_TEXTS, MAX_TEXTS

    chunks = -(-min(max(1, n_texts), MAX_BULK_TEXTS) // MAX_TEXTS)
    return min(call_timeout_s(settings, queue), float(settings.embedder_timeout) * EMBED_TIMEOUT_FACTOR * chunks)


class _OutOfTime(Exception):
    """Too little of the task's time limit is left for another request to the embedder."""


EMBED_MIN_BUDGET_S = 0.5  # a request with less time than this left is not sent (it could only time out)


def embedder_breaker(settings: Any) -> pybreaker.CircuitBreaker:
    """The circuit breaker of this worker process's calls to the embedder socket."""
    return breaker_for(f"embedder:{ai.embedder_socket(settings)}")


def _embed_request(texts: list[str], timeout_s: float) -> Any:
    """One bulk request through the embedder's breaker: timeouts and refusals count; a refused input does
    not (the embedder answered), it comes back as the EmbedderError to raise."""
    from inference.embed_server import EmbedderError
    from inference.embed_server import embed as embed_via_server

    settings = runtime.settings()

    def call() -> Any:
        try:
            return embed_via_server(ai.embedder_socket(settings), texts, timeout_s, bulk=True)
        except EmbedderError as exc:
            if exc.code == "bad_request":
                return exc
            raise

    return call_concurrently(embedder_breaker(settings), call)


def _embed_remote(texts: list[str], deadline: float | None = None, queue: str = "ai"
                  ) -> tuple[list[list[float]], str]:
    """Unit vectors for ``texts`` from the host's embedder process and the sha256 of its model.

    Down, too slow, its circuit open or serving another model than the
    configured one (a model switch half rolled out): Retryable, so the task
    runs again later and no vector of the wrong model is stored. A refused
    input (too long) is Permanent. ``deadline`` (``time.monotonic()``): no
    request outlasts it (:class:`_OutOfTime` when too little is left).
    """
    from inference.embed_server import EmbedderError, bulk_groups

    settings = runtime.settings()
    want = ai.file_sha256(ai.model_paths(settings)["embedder"])
    vectors: list[list[float]] = []
    for group in bulk_groups(texts):
        timeout = _embedder_timeout_s(settings, len(group), queue)
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout < EMBED_MIN_BUDGET_S:
                raise _OutOfTime(f"{max(0.0, timeout):.1f} s left of the task's time limit")
        try:
            got = _embed_request(group, timeout)
        except pybreaker.CircuitBreakerError as exc:
            retry_s = open_remaining_s(embedder_breaker(settings))
            raise Retryable(f"embedder_unavailable: circuit open after repeated timeouts or refusals; no call "
                            f"for {retry_s:.0f} s more") from exc
        except EmbedderError as exc:
            raise Retryable(f"embedder_unavailable: {exc.message}") from exc
        if isinstance(got, EmbedderError):
            raise Permanent(f"cannot process this input: {got.message}")
        if got.model_sha256 != want:
            raise Retryable(f"embedder_unavailable: the embedder serves model {got.model_sha256[:12]}, not the "
                            f"configured {want[:12]} (FMS_EMBED_MODEL differs between the workers and the "
                            "embedder)")
        vectors.extend(got.vectors)
    return vectors, want


def _deadline(actor_fn: Any, started: float) -> float:
    """When ``actor_fn``'s time limit (started at ``started``) interrupts it, less QUEUE_LIMIT_MARGIN_S
    for what still follows (storing the result)."""
    limit_ms = float(getattr(actor_fn, "options", {}).get("time_limit") or 600_000)
    return started + limit_ms / 1000 - QUEUE_LIMIT_MARGIN_S


def _themes(texts: list[str], deadline: float | None = None) -> list[dict[str, Any]] | None:
    """Clusters of the range's texts with counts and the submitters' own words, or None.

    An extra on top of the summary the LLM already wrote: an embedder that fails
    (down, timeout, circuit open) or too little time left before ``deadline``
    costs the themes, not the whole task and its summary.
    """
    import numpy as np

    from inference.themes import themes

    try:
        vectors, _ = _embed_remote(texts, deadline)
        return list(themes(texts, np.asarray(vectors, dtype=np.float32))["themes"])
    except TaskCancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - any embedder failure: the summary stands without themes
        log.warning("themes left out", extra={"error": str(exc)[:200]})
        return None


@actor("ai.summarize_form", track=True, max_retries=1)
def summarize_form(form_id: str, created_after: str | None = None, created_before: str | None = None
                   ) -> dict[str, Any]:
    """One summary of a form's submissions in a date range (newest first, capped)."""
    started = time.monotonic()
    queue_ms = _queue_wait_ms("summarize_form")
    try:
        texts = _svc().range_texts(form_id, created_after, created_before)
    except Exception as exc:
        raise Permanent(str(exc)) from exc
    if not texts:
        return {"form_id": form_id, "summary": "", "method": "empty", "submissions": 0, "themes": [],
                "metrics": {}}
    t0 = time.perf_counter()
    eng, load_ms = _guarded("llama", lambda: engine("llama"))
    tracker = _Progress()
    result = _guarded("llama", lambda: eng.summarize(texts, on_progress=tracker,
                                                            timeout_s=call_timeout_s(runtime.settings())))
    wall_ms = (time.perf_counter() - t0) * 1000 - load_ms
    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    data["themes"] = _themes(texts, _deadline(summarize_form, started))
    _announce(form_id, "ai.summarize_form", {"summary": data["summary"], "submissions": len(texts)})
    job = _metrics(load_ms, queue_ms, data.get("stats") or {}, wall_ms, tracker.ttft_ms)
    _observe("summarize_form", ai.model_paths(runtime.settings())["llm"], job)
    return {"form_id": form_id, "summary": data["summary"], "method": data["method"], "submissions": len(texts),
            "themes": data["themes"], "created_after": created_after, "created_before": created_before, "metrics": job}


@actor("ai.embed", track=True, max_retries=EMBED_MAX_RETRIES)
def embed(submission_id: str) -> dict[str, Any]:
    """Embed one submission's text answers through the embedder process; idempotent (same text and model:
    nothing to do).

    On the ``embed`` queue (worker-default), not ``ai``: it waits on the embedder, never on the
    model. Not bound by FMS_AI_MAX_QUEUE_WAIT: nobody waits on it, and dropping it would leave the
    submission out of duplicate detection for good; for the same reason it retries for about an
    hour while the embedder is down (the submission itself was stored long before).
    """
    import numpy as np

    queue_ms = _queue_wait_ms("embed", limited=False)
    svc = _svc()
    sub, text = _submission_text(svc, submission_id)
    if not text:
        return {"submission_id": submission_id, "embedded": False, "reason": "no text answers"}
    sha = ai.file_sha256(ai.model_paths(runtime.settings())["embedder"])
    old = svc.store.get_embedding(submission_id)
    if old is not None and old["model_sha256"] == sha and old["text_hash"] == ai.text_hash(text):
        return {"submission_id": submission_id, "embedded": True, "unchanged": True}
    t0 = time.perf_counter()
    vecs, sha = _embed_remote([text], queue="embed")
    svc.store_embedding(sub, np.asarray(vecs[0], dtype=np.float32), sha, text)
    job = {"queue_wait_ms": queue_ms, "load_ms": 0.0, "total_ms": round((time.perf_counter() - t0) * 1000, 1)}
    _observe("embed", ai.model_paths(runtime.settings())["embedder"], job)
    return {"submission_id": submission_id, "embedded": True, "dim": len(vecs[0]), "model_sha256": sha,
            "metrics": job}


@actor("ai.bench", track=True, max_retries=0, time_limit=1_800_000)
def bench(model_id: str, threads: list[int] | None = None, n_batch: list[int] | None = None,
          levels: list[str] | None = None, reps: int = 5, constraints: list[str] | None = None,
          user_id: str | None = None) -> dict[str, Any]:
    """Benchmark a registered model over a grid; the report is stored under the task id."""
    from app.models.service import ModelService

    task = current_task() or {}
    svc = ModelService(runtime.services().store, runtime.settings())
    report = svc.run_benchmark(model_id, task.get("id") or model_id, threads=threads, n_batch=n_batch,
                               levels=levels, reps=reps, constraints=constraints, created_by=user_id,
                               on_progress=lambda m: progress(100.0 * m["done"] / max(1, m["of"]),
                                                              f"configuration {m['done']}/{m['of']}"))
    return {"benchmark_id": task.get("id"), "selection": report.get("selection"),
            "configurations": len(report.get("results") or [])}


# -- the outbox hook: submission.created → ai.embed when the form asks for it ---------------------
@actor("hooks.ai_embed")
def on_submission_created(event: dict[str, Any]) -> str:
    """Runs on the ``default`` queue (cheap check per submission); only embedding forms reach ``embed``."""
    data = (event.get("payload") or {}).get("data") or {}
    form_id = data.get("form_id") or event.get("key")
    form = runtime.services().store.get_form(form_id) if form_id else None
    if form is None or not ai.form_embeds(form) or not data.get("id"):
        return "not enabled"
    send(embed, data["id"])
    return "queued"


HOOK_ACTOR = "hooks.ai_embed"
COMPLETED_TOPIC = "ai.completed"
