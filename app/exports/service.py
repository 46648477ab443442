"""Exports of a form's submissions: argument checks, export tasks' files, expiring downloads.

No Flask and no Dramatiq here. The streamed export (``GET .../export``) and
the export task (``POST .../exports``, run by ``analytics.export``) both go
through :func:`parse_export_args`, so a bad filter is the same 400 either
way and the task can never meet input the API did not accept.

An export task's file and its sidecar (``<id>.json``: owner, form, format,
task, state, expiry) live in ``<data_dir>/downloads``, outside the export
directory the SQL sandbox reads. A sidecar rather than a store table keeps
both backends unchanged; one host serves both the API and the workers. Each
run writes its own ``<id>.<run>.part`` and renames it when complete, so a
download can never see half an export, and the rename and the ``succeeded``
sidecar happen together under one lock (:meth:`ExportService._committing`):
if a duplicate of the task message runs at the same time (the broker delivers
at least once), the first run to finish wins, the other discards its file and
reports the winner's, so the file and its sidecar always agree. An expired one
answers 410 and is deleted then (and by :meth:`ExportService.purge_expired`).

Redaction of a task is decided twice and the union taken: at request time
(the caller's hidden fields) and again when the task runs, from the form's
sensitive fields *then* (unless the caller sees sensitive fields), so a field
marked sensitive while the task waited never goes out in clear.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.errors import ApiError, BadRequest, Conflict, NotFound
from app.forms.sensitive import sensitive_fields
from app.settings import Settings
from app.store import Record, Store, SubmissionQuery
from app.submissions.query import CursorCodec, parse_list_args
from app.util import iso, new_id, now_iso, parse_iso
from etl.formats import FORMATS  # the writers (etl.stream, pyarrow) load when an export runs

EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet", "xlsx": "xlsx"}
_NOT_FOR_EXPORT = ("limit", "cursor", "include_total")
STALE_PART_S = 24 * 3600  # a part file this old was left by a killed worker (a run writes it continuously)
EXPORT_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["format"],
    "properties": {
        "format": {"enum": list(FORMATS)},
        "filters": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "The list endpoint's query parameters, e.g. "
                                   "{\"filter[status]\": \"submitted\", \"created_after\": \"2026-01-01T00:00:00Z\"}."},
    },
}


class Gone(ApiError):
    status, code = 410, "gone"


def parse_format(raw: str | None, param: str = "format") -> str:
    if raw not in FORMATS:
        raise BadRequest.field(param, f"format must be one of {', '.join(FORMATS)}", code="invalid_format")
    return raw


def parse_export_args(args: Mapping[str, str], form: Record, codec: CursorCodec, prefix: str = "",
                      hide: frozenset[str] = frozenset()) -> SubmissionQuery:
    """The list's filters (and ``fields``) as a query; paging parameters make no sense for an export.

    ``hide``: the caller's hidden sensitive fields, which no filter or ``fields`` may name (403).
    """
    for name in _NOT_FOR_EXPORT:
        if name in args:
            raise BadRequest.field(prefix + name, f"{name} does not apply to an export: it always has every row",
                                   code="unknown_parameter")
    rest = {k: v for k, v in args.items() if k != "format"}
    try:
        query, _ = parse_list_args(rest, form, codec, hide)
    except ApiError as exc:
        if prefix:
            for detail in exc.details:
                detail["pointer"] = prefix + str(detail.get("pointer", ""))
        raise
    return query


class ExportService:
    """Export task files: created by the API, written by the actor, downloaded by their owner."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.root = settings.data_dir / "downloads"

    # -- records ---------------------------------------------------------------------------
    def _meta_path(self, export_id: str) -> Path:
        if not export_id.isalnum():  # ids are ULIDs; anything else cannot name a file here
            raise NotFound(f"export {export_id} not found", code="export_not_found")
        return self.root / f"{export_id}.json"

    def _write_meta(self, meta: Record) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._meta_path(meta["id"])
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, path)

    def meta(self, export_id: str) -> Record | None:
        try:
            return json.loads(self._meta_path(export_id).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def file_path(self, meta: Record) -> Path:
        return self.root / f"{meta['id']}.{EXTENSIONS[meta['format']]}"

    def create(self, form: Record, fmt: str, filters: Mapping[str, str], user_id: str, hide: frozenset[str],
               task_id: str, sees_sensitive: bool = False) -> Record:
        """The record of a new export task (state ``queued``); the caller enqueues ``analytics.export``.

        ``sees_sensitive``: whether the caller reads sensitive fields in clear; if not, fields marked
        sensitive before the task runs are redacted too (:meth:`hidden_at_run`).
        """
        self.purge_expired()
        now = now_iso()
        meta = {"id": new_id(), "form_id": form["id"], "format": fmt, "filters": dict(filters),
                "hide": sorted(hide), "sees_sensitive": sees_sensitive,
                "owner_id": user_id, "task_id": task_id, "state": "queued",
                "created_at": now, "finished_at": None, "expires_at": None, "rows": None, "bytes": None}
        self._write_meta(meta)
        return meta

    # -- the actor's side ----------------------------------------------------------------------
    @staticmethod
    def hidden_at_run(meta: Record, form: Record) -> frozenset[str]:
        """What the task redacts: the request's hidden fields plus, for a caller who does not see
        sensitive fields (or a record that does not say), what the form marks sensitive now."""
        now = frozenset() if meta.get("sees_sensitive") else sensitive_fields(form)
        return frozenset(meta.get("hide") or ()) | now

    def run(self, export_id: str, codec: CursorCodec, on_progress: Callable[[int, int], None] | None = None
            ) -> Record:
        """Write the export's file (all rows, newest first) and mark it downloadable until the link expires."""
        meta = self.meta(export_id)
        if meta is None:
            raise NotFound(f"export {export_id} not found", code="export_not_found")
        form = self.store.get_form(meta["form_id"])
        if form is None:
            raise NotFound(f"form {meta['form_id']} not found", code="form_not_found")
        hide = self.hidden_at_run(meta, form)
        query = parse_export_args(meta["filters"], form, codec, hide=hide)
        with self._committing():
            current = self.meta(export_id) or meta
            if self._finished(current):  # a redelivery of a run that already finished
                return current
            current["state"] = "running"
            self._write_meta(current)
        total = self.store.count_submissions(query)
        done = [0]

        def counted(n: int) -> None:
            done[0] += n
            if on_progress is not None:
                on_progress(done[0], total)

        part = self.root / f"{export_id}.{new_id()}.part"  # this run's own: a duplicate run writes another
        from etl.stream import export_stream

        try:
            with part.open("wb") as out:
                for chunk in export_stream(self.store, form, query, meta["format"], hide,
                                           tmp_dir=self.root, on_rows=counted):
                    out.write(chunk)
            return self._commit(export_id, part, done[0])
        finally:
            part.unlink(missing_ok=True)

    def _commit(self, export_id: str, part: Path, rows: int) -> Record:
        """Make ``part`` the export's file and mark it succeeded, unless another run did first."""
        with self._committing():
            meta = self.meta(export_id)
            if meta is None:
                raise NotFound(f"export {export_id} not found", code="export_not_found")
            if self._finished(meta):
                return meta  # the winner's file and sidecar stay as they are; ours is dropped
            final = self.file_path(meta)
            os.replace(part, final)
            finished = now_iso()
            meta.update(state="succeeded", rows=rows, bytes=final.stat().st_size, finished_at=finished,
                        expires_at=iso(parse_iso(finished) + timedelta(seconds=self.settings.export_link_ttl)))
            meta.pop("error", None)
            self._write_meta(meta)
            return meta

    def _finished(self, meta: Record) -> bool:
        return meta["state"] == "succeeded" and self.file_path(meta).exists()

    @contextlib.contextmanager
    def _committing(self) -> Iterator[None]:
        """One lock for every state change of every export (each held for a rename and a small write).

        ``flock``, so a worker killed while holding it releases it with its process.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".commit.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def mark_failed(self, export_id: str, reason: str) -> None:
        with self._committing():
            meta = self.meta(export_id)
            if meta is not None and meta["state"] != "succeeded":
                meta.update(state="failed", error=reason[:500], finished_at=now_iso())
                self._write_meta(meta)

    # -- downloads -----------------------------------------------------------------------------
    def download(self, export_id: str, user_id: str) -> tuple[Path, Record]:
        """The finished file for its owner; 404 for anyone else or unknown ids, 409 not ready, 410 expired."""
        meta = self.meta(export_id)
        if meta is None or meta.get("owner_id") != user_id:
            raise NotFound(f"export {export_id} not found", code="export_not_found")
        if meta["state"] == "expired" or (meta["state"] == "succeeded" and self._expired(meta)):
            self._remove(meta)
            raise Gone(f"the download link of export {export_id} expired at {meta['expires_at']}",
                       code="export_expired")
        if meta["state"] == "failed":
            raise Conflict(f"export {export_id} failed: {meta.get('error')}", code="export_failed")
        if meta["state"] != "succeeded":
            raise Conflict(f"export {export_id} is not ready yet; follow its task {meta['task_id']}",
                           code="export_not_ready")
        path = self.file_path(meta)
        if not path.exists():
            raise Gone(f"the file of export {export_id} is gone", code="export_expired")
        return path, meta

    def _sweep_parts(self) -> None:
        """Delete part files that killed workers left behind; a live run's is being written, so it is fresh."""
        cutoff = time.time() - STALE_PART_S
        for part in self.root.glob("*.part"):
            with contextlib.suppress(OSError):
                if part.stat().st_mtime < cutoff:
                    part.unlink()

    @staticmethod
    def _expired(meta: Record) -> bool:
        return bool(meta.get("expires_at")) and parse_iso(meta["expires_at"]) <= parse_iso(now_iso())

    def _remove(self, meta: Record) -> None:
        """Delete the file but keep the sidecar (marked expired), so the link keeps answering 410, not 404."""
        self.file_path(meta).unlink(missing_ok=True)
        if meta.get("state") != "expired":
            meta["state"] = "expired"
            self._write_meta(meta)

    def purge_expired(self) -> int:
        """Delete every expired export file; sidecars older than a week after expiry go too."""
        if not self.root.is_dir():
            return 0
        removed = 0
        now = parse_iso(now_iso())
        self._sweep_parts()
        for side in self.root.glob("*.json"):
            meta = self.meta(side.stem)
            if meta is None or not meta.get("expires_at") or parse_iso(meta["expires_at"]) > now:
                continue
            if meta["state"] != "expired":
                self._remove(meta)
                removed += 1
            elif parse_iso(meta["expires_at"]) + timedelta(days=7) <= now:
                side.unlink(missing_ok=True)
        return removed
