"""Task metrics, written into the Prometheus multiprocess directory.

Every worker process writes its own files there (``PROMETHEUS_MULTIPROC_DIR``
is set by :mod:`tasks.worker` before prometheus_client is imported) and the
API's ``/metrics`` aggregates them: no process ever binds a metrics port,
so nothing collides the way Dramatiq's stock exporter does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from app.observability.heartbeats import LAST_BEAT_KEY, field
from app.observability.metrics import LATENCY_BUCKETS

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # unlabelled metrics write their file at import
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

RUN_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300)

TASK_LATENCY = Histogram(
    "fms_task_queue_latency_seconds", "Enqueue (or retry eta) to start of processing.",
    ["queue", "actor"], buckets=LATENCY_BUCKETS,
)
TASK_RUN = Histogram("fms_task_run_seconds", "Task run time.", ["queue", "actor"], buckets=RUN_BUCKETS)
TASK_OUTCOMES = Counter(
    "fms_task_outcomes_total", "Finished attempts by outcome (succeeded, failed, retried, dead, cancelled, skipped).",
    ["queue", "actor", "outcome"],
)
TASK_RETRIES = Counter("fms_task_retries_total", "Retries scheduled.", ["queue", "actor"])
TASKS_DEAD = Counter("fms_tasks_dead_total", "Tasks that exhausted their retries.", ["queue", "actor"])
QUEUE_DEPTH = Gauge(
    "fms_queue_depth", "Messages waiting or in flight per queue (sampled by worker heartbeats).", ["queue"],
    multiprocess_mode="mostrecent",
)
BREAKER_STATE = Gauge(
    "fms_breaker_state", "Circuit breaker state per target: 0 closed, 1 half-open, 2 open.", ["target"],
    multiprocess_mode="mostrecent",
)
RELAY_EVENTS = Counter("fms_relay_events_total", "Outbox events moved to the broker.", ["topic"])
RELAY_ERRORS = Counter("fms_relay_errors_total", "Relay batches that failed (broker or store down).")
WEBHOOK_ATTEMPTS = Counter("fms_webhook_attempts_total", "Webhook HTTP attempts by result.", ["result"])
EMAILS = Counter("fms_emails_total", "Notification e-mails by result.", ["result"])

# Inference (REQ-AI-003.5, FR-OBS-003.3), observed by the worker serving ``ai`` from each job's
# result metrics (tasks.ai): ``kind`` is the job (fill, summarize, summarize_form, embed), ``model``
# the model file's name (one series per configured model, not per upload).
INFERENCE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300)
RATE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
AI_INFERENCE = Histogram("fms_ai_inference_seconds", "Model time of one AI job (load excluded).",
                         ["kind", "model"], buckets=INFERENCE_BUCKETS)
AI_QUEUE_WAIT = Histogram("fms_ai_queue_wait_seconds", "Time an AI job waited in the ai queue before it started.",
                          ["kind"], buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600))
AI_MODEL_LOAD = Histogram("fms_ai_model_load_seconds", "Loading a model into an engine process (with warm-up).",
                          ["engine", "model"], buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 120))
AI_PROMPT_RATE = Histogram("fms_ai_prompt_tokens_per_second", "Prompt (prefill) tokens per second of one AI job.",
                           ["kind", "model"], buckets=RATE_BUCKETS)
AI_GEN_RATE = Histogram("fms_ai_generation_tokens_per_second", "Generated tokens per second of one AI job.",
                        ["kind", "model"], buckets=RATE_BUCKETS)
AI_LLM_CALLS = Histogram("fms_ai_llm_calls", "LLM calls one fill made (one per field group the model decides).",
                         ["kind", "model"], buckets=(0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64))
AI_QUEUE_WAIT_EXCEEDED = Counter("fms_ai_queue_wait_exceeded_total",
                                 "AI jobs failed unrun because they waited past FMS_AI_MAX_QUEUE_WAIT.", ["kind"])


def record_heartbeat(client: Any, process: str, queues: Iterable[str], at: float) -> None:
    """Note this beat's time per (process, queue) in the broker Redis, where the API's ``/metrics``
    reads it (app.observability.heartbeats): unlike the per-worker keys it outlives its writer."""
    beats = {field(process or "worker", queue): at for queue in queues}
    if beats:
        client.hset(LAST_BEAT_KEY, mapping=beats)
