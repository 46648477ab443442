"""AI endpoints: fill and summarize (202 + task id), duplicates and similar (answered at once).

Fill and summarize are enqueued exactly like the task system's other
API-started work: :func:`tasks.broker.send` on a ``track=True`` actor writes
the task record (state ``queued``, the full message kept for retry/replay) in
the store and then enqueues into Redis (AOF on): once the 202 is sent the
task survives worker ``kill -9`` and Redis restarts. If Redis cannot take the
message, it goes into the outbox instead (:mod:`tasks.deferred`): the caller
still gets the 202 and a queued task, which the relay enqueues once Redis is back
(both behind the dispatcher, :mod:`app.dispatch`, shared by every blueprint that starts work).

Before that, each of them checks the ``ai`` queue's bound (:mod:`app.ai.capacity`): a full
queue answers ``503 ai_queue_full`` with ``Retry-After`` and writes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from app.ai import capacity
from app.ai import service as ai
from app.errors import BadRequest
from app.http import accepted, json_body, json_response, principal, require_form, services
from app.openapi import TASK_ACCEPTED_EXAMPLE, Operation

bp = Blueprint("ai", __name__, url_prefix="/api/v1")


def _enqueue(actor_name: str, *args: Any, task_form: str | None = None, **kwargs: Any) -> str:
    return services().dispatch.enqueue_tracked(f"ai.{actor_name}", args, kwargs, created_by=principal().user_id,
                                               form_id=task_form)


@bp.post("/forms/<form_id>/fill")
def fill(form_id: str) -> Response:
    me = principal()
    form = require_form(form_id, "write")
    svc = services()
    text = ai.check_text(json_body())
    if ((form.get("settings") or {}).get("ai") or {}).get("fill") is False:
        raise BadRequest("AI fill is disabled for this form (settings.ai.fill = false)", code="ai_disabled")
    ai.require_available(svc.settings, svc.cache, "llama")
    capacity.require_room(svc.settings, svc)
    return accepted(_enqueue("fill", form_id, text, user_id=me.user_id, task_form=form_id))


@bp.post("/submissions/<sub_id>/summarize")
def summarize(sub_id: str) -> Response:
    svc = services()
    sub, _ = ai.AIService(svc.store, svc.settings).get_submission_form(sub_id)
    require_form(sub["form_id"], "write")
    ai.require_available(svc.settings, svc.cache, "llama")
    capacity.require_room(svc.settings, svc)
    return accepted(_enqueue("summarize", sub_id, task_form=sub["form_id"]))


@bp.post("/forms/<form_id>/summarize")
def summarize_form(form_id: str) -> Response:
    """The submissions of a form in a date range (``created_after`` / ``created_before``, ISO 8601)."""
    require_form(form_id, "read")
    svc = services()
    bounds = ai.check_range(json_body() if request.get_data(cache=True) else {})
    ai.require_available(svc.settings, svc.cache, "llama")
    capacity.require_room(svc.settings, svc)
    return accepted(_enqueue("summarize_form", form_id, bounds.get("created_after"), bounds.get("created_before"),
                             task_form=form_id))


def _embedder_sha() -> str:
    svc = services()
    ai.require_available(svc.settings, svc.cache, "onnx")
    return ai.file_sha256(ai.model_paths(svc.settings)["embedder"])


@bp.get("/forms/<form_id>/duplicates")
def duplicates(form_id: str) -> Response:
    require_form(form_id, "read")
    svc = services()
    raw = request.args.get("threshold")
    try:  # absent means the configured default; present but empty, NaN or out of range is refused
        threshold = None if raw is None else float(raw)
    except ValueError as exc:
        raise BadRequest.field("threshold", "threshold must be a number") from exc
    if threshold is not None and not -1.0 <= threshold <= 1.0:
        raise BadRequest.field("threshold", "threshold is a cosine similarity: a number from -1 to 1")
    return json_response(ai.AIService(svc.store, svc.settings).duplicates(form_id, threshold, _embedder_sha()))


@bp.get("/forms/<form_id>/similar")
def similar(form_id: str) -> Response:
    require_form(form_id, "read")
    svc = services()
    q = ai.check_text({"q": request.args.get("q", "")}, "q", ai.MAX_QUERY_TEXT)
    try:
        k = int(request.args.get("k", "10"))
    except ValueError as exc:
        raise BadRequest.field("k", "k must be an integer") from exc
    sha = _embedder_sha()
    vec = ai.embed_query(svc.settings, q, sha)  # the shared embedder process; 503 + Retry-After when down
    return json_response(ai.AIService(svc.store, svc.settings).similar(form_id, vec, k, sha))


OPERATIONS = (
    Operation("post", "/api/v1/forms/{form_id}/fill", "ai",
              "Fill a draft submission from free text (202; the task result holds the draft's id)", 202,
              ai.FILL_BODY_SCHEMA,
              request_example={"text": "Hi, I'm Dana Reyes (dana@example.org). My parcel 4471 never arrived."},
              response_example=TASK_ACCEPTED_EXAMPLE),
    Operation("post", "/api/v1/submissions/{sub_id}/summarize", "ai", "Summarize a submission (202 + task id)", 202,
              response_example=TASK_ACCEPTED_EXAMPLE),
    Operation("post", "/api/v1/forms/{form_id}/summarize", "ai",
              "Summarize a form's submissions in a date range (202 + task id)", 202,
              ai.SUMMARIZE_FORM_BODY_SCHEMA, optional_body=True,
              request_example={"created_after": "2026-03-01T00:00:00Z", "created_before": "2026-04-01T00:00:00Z"},
              response_example=TASK_ACCEPTED_EXAMPLE),
    Operation("get", "/api/v1/forms/{form_id}/duplicates", "ai", "Probable duplicate groups from stored embeddings",
              query=(("threshold", "number", "Cosine similarity above which submissions group (default config)."),)),
    Operation("get", "/api/v1/forms/{form_id}/similar", "ai", "Submissions most similar to a query text",
              query=(("q", "string", "Query text."), ("k", "integer", "How many results, 1 to 100 (default 10).")),
              ),
)
