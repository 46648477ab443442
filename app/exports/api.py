"""Exports: streamed (``GET /forms/{id}/export``), as a task (``POST /forms/{id}/exports``), downloads.

The streamed export sends every matching submission, page by page, as it is
read, so memory stays flat and the first bytes leave at once: CSV and JSON
lines. Parquet and XLSX are not flat (a row group, a zip finished at the end,
~70 MB for Parquet): they are produced under the host's analytics lock
(:mod:`app.analytics.gate`) into a temporary file, so they never add their
peak to a summary's or another export's in the api unit, and the lock goes
before the file is sent (a slow download holds nobody up). One that cannot
get the lock within FMS_ANALYTICS_LOCK_WAIT answers 503 ``analytics_busy``
with ``Retry-After`` (or use ``POST .../exports``). A large export can
instead run as an ``analytics`` task with progress; its file is kept for
FMS_EXPORT_LINK_TTL seconds and only its creator can download it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from flask import Blueprint, Response, request, send_file

from app.analytics.gate import HeavyGate, lock_path
from app.auth import access
from app.errors import NotFound
from app.exports.service import EXPORT_BODY_SCHEMA, ExportService, parse_export_args, parse_format
from app.http import accepted, hidden_fields, json_body, principal, require_form, services
from app.openapi import TASK_ACCEPTED_EXAMPLE, Operation, busy_response
from app.store import Record
from app.util import new_id
from app.validation import body_validator, check
from etl.formats import MEDIA_TYPES

bp = Blueprint("exports", __name__, url_prefix="/api/v1")
log = logging.getLogger("app.exports")
EXPORT_BODY = body_validator(EXPORT_BODY_SCHEMA)
# Formats whose memory is not flat (Parquet: a row group; XLSX: xlsxwriter's and the zip's state): they are
# produced under the host's analytics lock into a temporary file, then sent without it. CSV and JSON lines
# hold one page at a time (etl.stream) and stream without the lock.
LOCKED_FORMATS = frozenset({"parquet", "xlsx"})


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

    headers = {"Content-Disposition": f'attachment; filename="{_filename(form, fmt)}"',
               "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if fmt not in LOCKED_FORMATS:  # one page in memory at a time: nothing to add up, no lock
        chunks = export_stream(svc.store, form, query, fmt, hide, tmp_dir=tmp_dir)
        return Response(_logged(chunks, form_id, fmt), content_type=MEDIA_TYPES[fmt], headers=headers)
    with HeavyGate(lock_path(svc.settings.data_dir), svc.settings.analytics_lock_wait).held():
        fh = _produced(export_stream(svc.store, form, query, fmt, hide, tmp_dir=tmp_dir), tmp_dir, form_id, fmt)
    response = send_file(fh, mimetype=MEDIA_TYPES[fmt].split(";")[0], conditional=False, etag=False)
    response.headers.update(headers)
    response.content_length = os.fstat(fh.fileno()).st_size
    return response


def _produced(chunks: Iterator[bytes], tmp_dir: Path, form_id: str, fmt: str) -> BinaryIO:
    """The export written whole to a temporary file, open at its start and already unlinked (the open file
    stays readable, its disk space goes when the response closes it, and nothing is left behind on a crash)."""
    fh = tempfile.TemporaryFile(dir=tmp_dir)  # noqa: SIM115 - the response closes it after the last byte
    try:
        for chunk in chunks:
            fh.write(chunk)
        fh.seek(0)
    except BaseException:
        fh.close()
        log.exception("export failed", extra={"form_id": form_id, "format": fmt})
        raise
    return fh


def _logged(chunks: Iterator[bytes], form_id: str, fmt: str) -> Iterator[bytes]:
    """Pass the bytes on; a failure mid-stream can no longer change the status, so it is logged and the
    response is cut (the client sees an incomplete chunked body, never a short file that looks whole)."""
    try:
        for chunk in chunks:
            if chunk:
                yield chunk
    except Exception:
        log.exception("streamed export failed", extra={"form_id": form_id, "format": fmt})
        raise


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
              "Every matching submission as CSV or JSON lines (streamed, flat memory), Parquet or XLSX (written under "
              "the host's analytics lock, then sent); never truncated",
              query=_FILTER_PARAMS,
              responses={503: busy_response(
                  "Parquet or XLSX only: another summary or export held the host's analytics lock for all of "
                  "FMS_ANALYTICS_LOCK_WAIT. Ask again after `Retry-After`, or run it as a task (`POST .../exports`).",
                  [{"retry_after": 5}])}),
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
