"""``/api/v1/models`` (registry) and ``/api/v1/benchmarks`` (reports).

Registering (by path or upload) and deleting are admin-only: a path
registration reads a file on the server (only inside FMS_MODEL_DIRS), and an
upload writes up to FMS_MODEL_UPLOAD_MAX_BYTES to disk. Uploads: ``multipart/form-data`` with a
``file`` part (streamed by werkzeug straight into the uploads folder, never
into memory), or a raw ``application/octet-stream`` body with
``?filename=``; the app-wide 1 MB body limit is lifted for this one view only.
"""

from __future__ import annotations

from typing import IO, Any

from flask import Blueprint, Response, request
from werkzeug.formparser import parse_form_data

from app.errors import BadRequest
from app.http import accepted, json_body, json_response, principal, services
from app.models.service import ModelService, public_model
from app.openapi import TASK_ACCEPTED_EXAMPLE, Operation
from app.util import new_id
from app.validation import body_validator, check

bp = Blueprint("models", __name__, url_prefix="/api/v1")
REGISTER_BODY_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["path"],
    "properties": {"path": {"type": "string", "minLength": 1, "description": "The model file's path on the server."},
                   "name": {"type": "string", "maxLength": 200}}}
REGISTER_BODY = body_validator(REGISTER_BODY_SCHEMA)
BENCH_BODY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "threads": {"type": "array", "items": {"type": "integer", "minimum": 1}},
    "n_batch": {"type": "array", "items": {"type": "integer", "minimum": 1}},
    "levels": {"type": "array", "items": {"type": "string"}},
    "reps": {"type": "integer", "minimum": 5},
    "constraints": {"type": "array", "items": {"type": "string"}}}}
BENCH_BODY = body_validator(BENCH_BODY_SCHEMA)


def _models() -> ModelService:
    svc = services()
    return ModelService(svc.store, svc.settings)


@bp.get("/models")
def list_models() -> Response:
    me = principal()
    me.require("read")
    return json_response({"items": [public_model(m, me.is_admin) for m in _models().list()]})


@bp.get("/models/<model_id>")
def get_model(model_id: str) -> Response:
    me = principal()
    me.require("read")
    return json_response(public_model(_models().get(model_id), me.is_admin))


@bp.post("/models")
def register_model() -> Response:
    me = principal()
    me.require_admin()
    models = _models()
    limit = models.settings.model_upload_max
    if request.mimetype == "multipart/form-data":
        rec = _multipart(models, limit, me.user_id)
    elif request.mimetype == "application/octet-stream":
        request.max_content_length = limit
        rec = models.upload(request.stream, request.args.get("filename", ""), request.args.get("name"), me.user_id)
    else:
        body = json_body()
        check(REGISTER_BODY, body, "give the model file's server-side path, or upload the file")
        rec = models.register_server_path(body["path"], body.get("name"), me.user_id)
    return json_response(public_model(rec), 201, headers={"Location": f"/api/v1/models/{rec['id']}"})


def _multipart(models: ModelService, limit: int, actor: str) -> Any:
    """Parse the multipart body with the ``file`` part written straight to the uploads folder."""
    models.upload_dir.mkdir(parents=True, exist_ok=True)
    spool = models.upload_dir / f".incoming-{new_id()}"
    opened: list[IO[bytes]] = []

    def factory(total_content_length: int | None, content_type: str | None, filename: str | None,
                content_length: int | None = None) -> IO[bytes]:
        fh = (spool.with_name(spool.name + f"-{len(opened)}")).open("w+b")
        opened.append(fh)
        return fh

    try:
        try:
            _, form, files = parse_form_data(request.environ, stream_factory=factory,
                                             max_content_length=limit + (1 << 20), silent=False)
        except ValueError as exc:  # no boundary, or a body that is not multipart at all
            raise BadRequest.field("Content-Type", f"cannot read the multipart body: {exc}") from exc
        upload = files.get("file")
        if upload is None:
            raise BadRequest.field("file", "send the model in a multipart part named 'file'")
        upload.stream.seek(0)
        return models.upload(upload.stream, upload.filename or "", form.get("name"), actor)
    finally:
        for fh in opened:
            fh.close()
            _unlink(fh.name)


def _unlink(path: str) -> None:
    from pathlib import Path

    Path(path).unlink(missing_ok=True)


@bp.delete("/models/<model_id>")
def delete_model(model_id: str) -> Response:
    principal().require_admin()
    _models().delete(model_id)
    return Response(status=204)


@bp.post("/models/<model_id>/benchmarks")
def start_benchmark(model_id: str) -> Response:
    me = principal()
    me.require_admin()
    _models().get(model_id)
    body = json_body() if request.get_data(cache=True) else {}
    check(BENCH_BODY, body, "benchmark request is invalid")
    opts = {k: body[k] for k in ("threads", "n_batch", "levels", "reps", "constraints") if k in body}
    task_id = services().dispatch.enqueue_tracked("ai.bench", (model_id,), {"user_id": me.user_id, **opts},
                                                  created_by=me.user_id)
    return accepted(task_id, benchmark_id=task_id)


@bp.get("/benchmarks/<bench_id>")
def get_benchmark(bench_id: str) -> Response:
    principal().require("read")
    fmt = request.args.get("format", "json")
    body, mime = ModelService.render(_models().benchmark(bench_id), fmt)
    return Response(body, mimetype=mime, headers={"Cache-Control": "no-store"})


UPLOAD_CONTENT = {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}, "name": {"type": "string"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}
OPERATIONS = (
    Operation("get", "/api/v1/models", "models", "Registered models"),
    Operation("post", "/api/v1/models", "models",
              "Register a model by server path (JSON {path, name}) or upload (multipart `file`, <= 1 GB); admin", 201,
              REGISTER_BODY_SCHEMA,
              query=(("filename", "string", "File name for a raw application/octet-stream upload."),),
              content=UPLOAD_CONTENT,
              request_example={"path": "/var/lib/fms/models/gemma-3-270m-it-Q4_K_M.gguf", "name": "gemma-270m"}),
    Operation("get", "/api/v1/models/{model_id}", "models", "One registered model"),
    Operation("delete", "/api/v1/models/{model_id}", "models", "Forget a model (admin)", 204),
    Operation("post", "/api/v1/models/{model_id}/benchmarks", "models", "Benchmark a model over a grid (202; admin)",
              202, BENCH_BODY_SCHEMA, request_example={"threads": [1, 2], "n_batch": [512], "reps": 5},
              optional_body=True,
              response_example={"benchmark_id": TASK_ACCEPTED_EXAMPLE["task_id"], **TASK_ACCEPTED_EXAMPLE}),
    Operation("get", "/api/v1/benchmarks/{bench_id}", "models", "A benchmark report",
              query=(("format", "string", "json, csv, html, text or simple."),)),
)
