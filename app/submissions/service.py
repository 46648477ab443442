"""Submissions: validated answers, idempotent creation, revisions, soft delete.

Every write that other systems must hear about (webhooks, e-mail, AI jobs)
stores its outbox events in the same atomic store operation as the data, so
an accepted submission can never lose its event, even if Redis is down.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from app.errors import Conflict, NotFound, ValidationFailed
from app.forms.sensitive import redact
from app.observability import context
from app.store import IdempotencyReplay, Record, Store, SubmissionQuery
from app.util import canonical_json, new_id, now_iso, sha256_hex
from app.validation import body_validator, check, errors_of, validator_for

CREATE_BODY = body_validator({
    "type": "object",
    "additionalProperties": False,
    "required": ["answers"],
    "properties": {"answers": {"type": "object"}, "draft": {"type": "boolean"}},
})
PATCH_BODY = body_validator({
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "answers": {"type": "object"},
        "status": {"enum": ["submitted", "in_review", "approved", "rejected", "quarantined"]},
        "note": {"type": "string", "maxLength": 2000},
    },
})
_NO_REQUIRED = frozenset({"required"})


@dataclass(frozen=True)
class Created:
    """The outcome of a create: the body to send and whether it is a replay."""

    status_code: int
    body: Record
    replayed: bool


@dataclass(frozen=True)
class Pending:
    """A submission checked and built, not yet written (:meth:`SubmissionService.prepare`)."""

    sub: Record
    response: Record
    events: list[Record]
    idem: Record | None
    body_hash: str


def public_submission(sub: Record, hide: frozenset[str] = frozenset()) -> Record:
    """The API's view of a submission; ``hide``: the sensitive fields this caller may not see."""
    out = {
        "id": sub["id"], "form_id": sub["form_id"], "form_version": sub["form_version"],
        "status": sub["status"], "created_at": sub["created_at"], "answers": redact(sub.get("answers"), hide),
    }
    for extra in ("updated_at", "deleted_at", "rev", "meta"):
        if extra in sub:
            out[extra] = sub[extra]
    return out


def event(topic: str, sub: Record, extra: Record | None = None, data: Record | None = None,
          at: str | None = None) -> Record:
    """An outbox event whose payload is a snapshot taken now, not at delivery.

    It keeps the request id of the write that caused it, so the tasks the
    relay later makes of it (webhooks, e-mail, embedding) log the same id.
    ``data``: ``public_submission(sub)`` when the caller built it already (the
    create's response), so it is not built twice; ``at``: the write's own timestamp, when it has one.
    """
    payload = {"type": topic, "timestamp": at or now_iso(),
               "data": data if data is not None else public_submission(sub), **(extra or {})}
    return {"id": new_id(), "topic": topic, "key": sub["form_id"], "payload": payload,
            "created_at": payload["timestamp"], "sent_at": None, "request_id": context.request_id.get()}


class SubmissionService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def validate_answers(self, form: Record, answers: Any, draft: bool) -> None:
        """All schema errors at once; drafts may leave required fields out."""
        key = (form.get("form_id") or form["id"], form["version"])
        errors = errors_of(validator_for(form["schema"], key), answers, "/answers",
                           _NO_REQUIRED if draft else frozenset())
        schema = form["schema"]
        if isinstance(answers, dict) and "additionalProperties" not in schema:
            # A key the form does not define is a client bug, unless the schema opts in.
            known = schema.get("properties", {})
            errors += [{"pointer": f"/answers/{k}", "message": f"form has no field {k!r}",
                        "keyword": "additionalProperties"} for k in answers if k not in known]
        if errors:
            raise ValidationFailed("answers do not match the form", sorted(errors, key=lambda e: e["pointer"]))

    def precheck(self, form: Record, body: Any) -> None:
        """Validate a create body without writing anything."""
        check(CREATE_BODY, body, "submission is invalid")
        self.validate_answers(form, body["answers"], bool(body.get("draft", False)))

    def create(self, form: Record, body: Any, actor: str | None, idem_key: str | None,
               idem_scope: str, status: str | None = None) -> Created:
        step = self.prepare(form, body, actor, idem_key, idem_scope, status)
        return step if isinstance(step, Created) else self.commit(step)

    def prepare(self, form: Record, body: Any, actor: str | None, idem_key: str | None,
                idem_scope: str, status: str | None = None) -> Pending | Created:
        """Everything a create checks and builds before the store is written: a refusal raises here.

        Split from :meth:`commit` so that a caller can tell "refused, nothing written" (any
        exception from here) from "written" (see :mod:`app.submissions.fastwrite`). A replay of an
        earlier request with the same key is answered here, as a :class:`Created`.
        """
        check(CREATE_BODY, body, "submission is invalid")
        draft = bool(body.get("draft", False))
        body_hash = sha256_hex(canonical_json(body)) if idem_key else ""
        if idem_key:
            earlier = self.store.get_idempotency(idem_scope, idem_key)
            if earlier is not None:
                return self._replay(earlier, body_hash)
        self.validate_answers(form, body["answers"], draft)
        now = now_iso()
        sub = {
            "id": new_id(), "form_id": form["id"], "form_version": form["version"],
            "status": "draft" if draft else (status or "submitted"), "answers": body["answers"],
            "meta": {}, "rev": 1, "created_by": actor, "created_at": now, "updated_at": now, "deleted_at": None,
        }
        response = public_submission(sub)
        quiet = sub["status"] in {"draft", "quarantined"}
        events = [] if quiet else [event("submission.created", sub, data=response, at=now)]
        idem = None
        if idem_key:
            idem = {"scope": idem_scope, "key": idem_key, "body_hash": body_hash, "status_code": 201,
                    "response": response, "created_at": now}
        return Pending(sub, response, events, idem, body_hash)

    def commit(self, pending: Pending) -> Created:
        """Write a prepared submission, its outbox event and its idempotency record in one durable step."""
        try:
            self.store.insert_submission(pending.sub, pending.events, pending.idem)
        except IdempotencyReplay as race:  # a concurrent retry with the same key won
            return self._replay(race.record, pending.body_hash)
        return Created(201, pending.response, False)

    @staticmethod
    def _replay(earlier: Record, body_hash: str) -> Created:
        if earlier["body_hash"] != body_hash:
            raise Conflict.field(
                "Idempotency-Key", "this Idempotency-Key was used with a different body", code="idempotency_conflict"
            )
        return Created(int(earlier["status_code"]), earlier["response"], True)

    def get(self, sub_id: str) -> Record:
        sub = self.store.get_submission(sub_id)
        if sub is None:
            raise NotFound(f"submission {sub_id} not found", code="submission_not_found")
        return sub

    def list(self, query: SubmissionQuery, include_total: bool) -> tuple[list[Record], int | None]:
        rows = self.store.query_submissions(query)
        total = self.store.count_submissions(query) if include_total else None
        return rows, total

    def _form_version(self, sub: Record) -> Record:
        version = self.store.get_form_version(sub["form_id"], sub["form_version"])
        if version is None:
            raise NotFound(f"form {sub['form_id']} not found", code="form_not_found")
        return version

    def patch(self, sub: Record, body: Any, actor: str) -> Record:
        check(PATCH_BODY, body, "patch is invalid")
        if sub["deleted_at"] is not None:
            raise Conflict("submission is deleted; restore it first", code="submission_deleted")
        answers = dict(sub["answers"])
        for key, value in (body.get("answers") or {}).items():  # JSON merge patch: null removes
            if value is None:
                answers.pop(key, None)
            else:
                answers[key] = value
        status = body.get("status", sub["status"])
        self.validate_answers(self._form_version(sub), answers, draft=status == "draft")
        changes: Record = {"answers": answers, "status": status, "updated_at": now_iso()}
        if body.get("note"):
            changes["meta"] = {**sub["meta"], "note": body["note"]}
        updated = {**sub, **changes}
        return self._apply(sub, changes, actor, self._events_for_patch(sub, updated))

    @staticmethod
    def _events_for_patch(before: Record, after: Record) -> builtins.list[Record]:
        if after["status"] == "quarantined":
            return []
        if before["status"] in {"draft", "quarantined"} and after["status"] != "draft":
            return [event("submission.created", after)]
        if before["status"] != after["status"]:
            return [event("submission.status_changed", after, {"previous_status": before["status"]})]
        if before["answers"] != after["answers"]:
            return [event("submission.updated", after)] if after["status"] != "draft" else []
        return []

    def _apply(self, sub: Record, changes: Record, actor: str, events: builtins.list[Record]) -> Record:
        revision = {"submission_id": sub["id"], "rev": sub["rev"], "status": sub["status"],
                    "answers": sub["answers"], "changed_by": actor, "changed_at": changes["updated_at"]}
        updated = self.store.update_submission(sub["id"], changes, revision, events, sub["rev"])
        if updated is None:
            raise Conflict("submission changed concurrently; fetch it and retry", code="revision_conflict")
        return updated

    def delete(self, sub: Record, actor: str) -> Record:
        if sub["deleted_at"] is not None:
            raise NotFound(f"submission {sub['id']} not found", code="submission_not_found")
        now = now_iso()
        return self._apply(sub, {"deleted_at": now, "updated_at": now}, actor,
                           [event("submission.deleted", sub)] if sub["status"] != "quarantined" else [])

    def restore(self, sub: Record, actor: str) -> Record:
        if sub["deleted_at"] is None:
            raise Conflict("submission is not deleted", code="not_deleted")
        restored = {**sub, "deleted_at": None}
        return self._apply(sub, {"deleted_at": None, "updated_at": now_iso()}, actor,
                           [event("submission.restored", restored)] if sub["status"] != "quarantined" else [])

    def revisions(self, sub_id: str) -> builtins.list[Record]:
        return self.store.list_revisions(sub_id)

    def purge(self, older_than_days: int) -> int:
        return self.store.purge_submissions(now_iso(-older_than_days * 86400))
