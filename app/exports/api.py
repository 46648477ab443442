"""Exports: streamed (``GET /forms/{id}/export``), as a task (``POST /forms/{id}/exports``), downloads.

The streamed export sends every matching submission, page by page, as it is
read, so memory stays flat and the first bytes leave at once (XLSX excepted:
a zip is finished at the end, so its rows go to a temporary file first).
A large export can instead run as an ``analytics`` task with progress; its
file is kept for FMS_EXPORT_LINK_TTL seconds and only its creator can
download it. A streamed export holds the host's analytics lock
(:mod:`app.analytics.gate`) until its last byte, so it never adds its peak
(~70 MB for Parquet) to a summary's or another export's in the api unit; one
that cannot get it within FMS_ANALYTICS_LOCK_WAIT answers 503
``analytics_busy`` with ``Retry-After`` (or use ``POST .../exports``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import Blueprint, Response, request, send_file

from app.analytics.gate import HeavyGate, Hold, lock_path
from app.auth import access
from app.errors import NotFound
from app.exports.service import EXPORT_BODY_SCHEMA, ExportService, parse_export_args, parse_format
from app.http import accepted, hidden_fields, json_body, principal, require_form, services
from app.openapi import TASK_ACCEPTED_EXAMPLE, Operation
from app.store import Record
from app.util import new_id
from app.validation import body_validator, check
from etl.formats import MEDIA_TYPES

bp = Blueprint("exports", __name__, url_prefix="/api/v1")
log = logging.getLogger("app.exports")
EXPORT_BODY = body_validator(EXPORT_BODY_SCHEMA)


def _readable_form(form_id: str) -> Record:
    """The form, if the caller may read its submissions (the same check as the submissions list)."""
    return require_form(form_id, "read")


def _exports() -> ExportService:
    svc = services()
    return ExportService(svc.store, svc.settings)


def _filename(form: Record, fmt: str) -> str:
    return f"form-{form['id']}.{fmt}"


@bp.get("/forms/<form_id>/export")
def stream_export(form_id: str) -> Response:
    form = _readable_form(form_id)
    svc = services()
    fmt = parse_format(request.args.get("format", "csv"))
    hide = hidden_fields(form)
    query = parse_export_args(request.args, form, svc.cursors, hide=hide)
    tmp_dir = svc.settings.data_dir / "downloads"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    from etl.stream import export_stream  # pyarrow loads on the first export, not at worker start

    hold = HeavyGate(lock_path(svc.settings.data_dir), svc.settings.analytics_lock_wait).acquire()
    try:  # one summary or export at a time per host (503 analytics_busy after the wait), held while it streams
        chunks = export_stream(svc.store, form, query, fmt, hide, tmp_dir=tmp_dir)
        headers = {"Content-Disposition": f'attachment; filename="{_filename(form, fmt)}"',
                   "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        response = Response(_logged(chunks, form_id, fmt, hold), content_type=MEDIA_TYPES[fmt], headers=headers)
    except BaseException:
        hold.release()
        raise
    response.call_on_close(hold.release)  # a body never iterated (HEAD, a client gone before the first byte)
    return response


def _logged(chunks: Iterator[bytes], form_id: str, fmt: str, hold: Hold) -> Iterator[bytes]:
    """Pass the bytes on; a failure mid-stream can no longer change the status, so it is logged and the
    response is cut (the client sees an incomplete chunked body, never a short file that looks whole).
    The analytics lock goes with the last chunk, a failure, or the server closing a body cut short."""
    try:
        for chunk in chunks:
            if chunk:
                yield chunk
    except Exception:
        log.exception("streamed export failed", extra={"form_id": form_id, "format": fmt})
        raise
    finally:
        hold.release()


@bp.post("/forms/<form_id>/exports")
def create_export(form_id: str) -> Response:
    form = _readable_form(form_id)
    me = principal()
    svc = services()
    body = json_body()
    check(EXPORT_BODY, body, "export request is invalid")
    fmt = parse_format(body["format"], "/format")
    filters = body.get("filters") or {}
    hide = hidden_fields(form)
    parse_export_args(filters, form, svc.cursors, prefix="/filters/", hide=hide)
    exports = _exports()
    task_id = new_id()  # the task's id, known before enqueueing so the export record can name it
    meta = exports.create(form, fmt, filters, me.user_id, hide, task_id,
                          sees_sensitive=access.sees_sensitive(svc.store, me, form))
    svc.dispatch.enqueue_tracked("analytics.export", (meta["id"],), created_by=me.user_id, form_id=form_id,
                                 task_id=task_id)
    return accepted(task_id, export_id=meta["id"], download_url=f"/api/v1/exports/{meta['id']}/download")


@bp.get("/exports/<export_id>/download")
def download_export(export_id: str) -> Response:
    me = principal()
    me.require("read")
    exports = _exports()
    mine = exports.meta(export_id)
    if mine is not None and mine.get("owner_id") == me.user_id:
        try:  # the form must still be theirs to read: a revoked share takes its exports with it
            require_form(mine["form_id"], "read")
        except NotFound as exc:
            raise NotFound(f"export {export_id} not found", code="export_not_found") from exc
    path, meta = exports.download(export_id, me.user_id)
    response = send_file(path, mimetype=MEDIA_TYPES[meta["format"]].split(";")[0], as_attachment=True,
                         download_name=f"form-{meta['form_id']}.{meta['format']}", conditional=False, etag=False)
    response.headers["Cache-Control"] = "private, no-store"
    return response


_FILTER_PARAMS = [
    ("format", "string", "csv (default), jsonl, parquet or xlsx."),
    ("fields", "string", "Comma-separated answer fields to export (default: every schema property)."),
    ("created_after", "string", "ISO-8601 lower bound (exclusive)."),
    ("created_before", "string", "ISO-8601 upper bound (exclusive)."),
    ("deleted", "boolean", "Export soft-deleted submissions instead of live ones."),
    ("filter[status]", "string", "Comma-separated statuses."),
]
OPERATIONS = (
    Operation("get", "/api/v1/forms/{form_id}/export", "exports",
              "Stream every matching submission as CSV, JSON lines, Parquet or XLSX (flat memory, never truncated)",
              query=_FILTER_PARAMS),
    Operation("post", "/api/v1/forms/{form_id}/exports", "exports",
              "Run an export as an analytics task (202 + task id and export id)", 202, EXPORT_BODY_SCHEMA,
              request_example={"format": "csv", "filters": {"filter[status]": "submitted",
                                                            "created_after": "2026-01-01T00:00:00Z"}},
              response_example={"export_id": "01JD8X3W6Q9V2N4K7M1P5R8T1Z",
                                "download_url": "/api/v1/exports/01JD8X3W6Q9V2N4K7M1P5R8T1Z/download",
                                **TASK_ACCEPTED_EXAMPLE}),
    Operation("get", "/api/v1/exports/{export_id}/download", "exports",
              "Download a finished export task's file (its creator only; 410 after FMS_EXPORT_LINK_TTL)"),
)
