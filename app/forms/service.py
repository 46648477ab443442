"""Forms and their versions.

A form's answers schema is JSON Schema 2020-12 for an object. Editing a form
stores a new version; each submission records the version it was validated
against, so old submissions stay interpretable.
"""

from __future__ import annotations

import hashlib
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from app import audit, fastjson
from app.auth.access import visible_to
from app.auth.service import Principal
from app.cache import Cache, local_cache
from app.errors import BadRequest, Conflict, NotFound, ValidationFailed
from app.observability.metrics import CACHE_EVENTS
from app.store import Record, Store
from app.util import new_id, now_iso
from app.validation import body_validator, check, pointer

FORM_BODY = body_validator({
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "schema"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": ["string", "null"], "maxLength": 5000},
        "schema": {"type": "object"},
        "settings": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "notify_emails": {"type": "array", "items": {"type": "string", "format": "email"}, "maxItems": 20},
                "ai": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"fill": {"type": "boolean"}, "embed": {"type": "boolean"},
                                   "summarize": {"type": "boolean"}},
                },
                "spam_check": {"type": "boolean"},
                "retention_days": {"type": "integer", "minimum": 1, "maximum": 36500},
            },
        },
        "sensitive": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    },
})
CACHE_NS = "form"  # Redis value: b"<version> <etag>\n" + the body, so a hit is neither hashed nor mistaken
LOCAL_COPY_MAX_BYTES = 64 * 1024  # a larger form is not kept per process (read from the store / Redis each time)




def _check_answers_schema(schema: dict[str, Any], sensitive: list[str]) -> None:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValidationFailed(
            "schema is not a valid JSON Schema (draft 2020-12)",
            [{"pointer": "/schema" + pointer(exc.absolute_path), "message": exc.message, "keyword": "schema"}],
        ) from exc
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise ValidationFailed.field("/schema", "schema must describe an object with 'properties'")
    unknown = [name for name in sensitive if name not in schema["properties"]]
    if unknown:
        raise ValidationFailed(
            "sensitive names fields that the schema does not have",
            [{"pointer": f"/sensitive/{sensitive.index(n)}", "message": f"unknown field {n!r}"} for n in unknown],
        )


class TaggedBody(bytes):
    """A response body that carries its ETag (``json_response`` uses it instead of hashing the body)."""

    etag: str

    def __new__(cls, body: bytes, etag: str) -> TaggedBody:
        self = super().__new__(cls, body)
        self.etag = etag
        return self


def public_form(form: Record) -> Record:
    return {
        "id": form["id"], "version": form["version"], "title": form["title"],
        "description": form.get("description"), "schema": form["schema"], "settings": form["settings"],
        "sensitive": form["sensitive"], "created_at": form["created_at"], "updated_at": form["updated_at"],
    }


class FormService:
    def __init__(self, store: Store, cache: Cache) -> None:
        self.store = store
        self.cache = cache
        # Parsed forms and their public bodies, per process; replace and delete bump it everywhere.
        self._local = local_cache(store, cache.url)

    def _parse(self, body: Any) -> Record:
        check(FORM_BODY, body, "form is invalid")
        _check_answers_schema(body["schema"], body.get("sensitive", []))
        return {"title": body["title"], "description": body.get("description"), "schema": body["schema"],
                "settings": body.get("settings", {}), "sensitive": body.get("sensitive", [])}

    def create(self, body: Any, principal: Principal) -> Record:
        fields = self._parse(body)
        now = now_iso()
        form = {"id": new_id(), "owner_id": principal.user_id, "version": 1, **fields,
                "created_at": now, "updated_at": now, "deleted_at": None, "updated_by": principal.user_id}
        with self.store.atomically():
            self.store.create_form(form)
            audit.record(self.store, "form.create", principal.user_id, form["id"], {"title": form["title"]})
        return form

    def get(self, form_id: str) -> Record:
        form = self.store.get_form(form_id)
        if form is None:
            raise NotFound(f"form {form_id} not found", code="form_not_found")
        return form

    def live(self, form_id: str) -> Record | None:
        """The live form or None, from this process's copy when it has one (every form-scoped request).

        A shallow copy per call, so a caller that sets a key cannot change the
        copy other requests get; nobody may change the nested schema or settings.
        """
        hit = self._local.get("form", form_id)
        if hit is None:
            generation = self._local.generation
            hit = self.store.get_form(form_id)
            if hit is None:  # unknown or deleted: not kept, so a form made later is seen at once
                return None
            if len(fastjson.dumps(hit["schema"])) <= LOCAL_COPY_MAX_BYTES:  # once per miss, not per request
                self._local.put("form", form_id, hit, generation)
        return dict(hit)

    def cached_body(self, form: Record) -> tuple[bytes, str]:
        """The public JSON of ``form`` (as :meth:`live` gave it) and its ETag.

        This process's copy, else Redis, else built here. A Redis copy names the
        version it was built from and is used only for that version, so one
        written by a request that read the form just before an edit is never
        served for the new version.
        """
        ident = f"{form['id']}:{form['version']}"
        hit = self._local.get("form_body", ident)
        if hit is not None:
            CACHE_EVENTS.labels(CACHE_NS, "hit").inc()  # a hit in this process's copy is a cache hit too
            return hit
        generation = self._local.generation
        found = self._from_redis(form)
        if found is None:
            body = fastjson.dumps(public_form(form))
            found = (body, hashlib.blake2b(body, digest_size=16).hexdigest())
            self.cache.set(CACHE_NS, form["id"], f"{form['version']} {found[1]}\n".encode() + body)
        if len(found[0]) <= LOCAL_COPY_MAX_BYTES:
            self._local.put("form_body", ident, found, generation)
        return found

    def _from_redis(self, form: Record) -> tuple[bytes, str] | None:
        raw = self.cache.get(CACHE_NS, form["id"])
        if raw is None or raw[:1] == b"{":  # a miss, or a copy from before ETags were kept with it
            return None
        head, _, body = raw.partition(b"\n")
        version, _, etag = head.decode().partition(" ")
        return (body, etag) if version == str(form["version"]) else None

    def cached_json(self, form: Record) -> bytes:
        """The public JSON of a form the caller already loaded and may read (:meth:`live`, then the
        access check) as :class:`TaggedBody`: read once per request, not once for the check and again here."""
        return TaggedBody(*self.cached_body(form))

    def replace(self, form_id: str, body: Any, principal: Principal, expected: int | None) -> Record:
        fields = self._parse(body)
        current = self.get(form_id)
        if expected is not None and expected != current["version"]:
            raise Conflict(f"form is at version {current['version']}, not {expected}", code="version_conflict")
        form = {**current, **fields, "version": current["version"] + 1, "updated_at": now_iso(),
                "updated_by": principal.user_id}
        with self.store.atomically():
            if not self.store.add_form_version(form, current["version"]):
                raise Conflict("form was changed concurrently; fetch it and retry", code="version_conflict")
            audit.record(self.store, "form.update", principal.user_id, form_id, {"version": form["version"]})
        self.cache.delete(CACHE_NS, form_id)  # after the commit: no process re-caches the old version
        self._local.bump()
        return form

    def delete(self, form_id: str, principal: Principal) -> None:
        with self.store.atomically():
            if not self.store.delete_form(form_id, now_iso()):
                raise NotFound(f"form {form_id} not found", code="form_not_found")
            audit.record(self.store, "form.delete", principal.user_id, form_id)
        self.cache.delete(CACHE_NS, form_id)  # after the commit
        self._local.bump()

    def versions(self, form_id: str) -> list[Record]:
        self.get(form_id)
        return self.store.list_form_versions(form_id)

    def version(self, form_id: str, version: int) -> Record:
        found = self.store.get_form_version(form_id, version)
        if found is None:
            raise NotFound(f"form {form_id} has no version {version}")
        return found

    def list(self, after: str | None, limit: int, principal: Principal) -> tuple[list[Record], str | None]:
        """A page of the forms this principal may read, and the cursor of the next page.

        The store returns only forms the user owns or that are shared with
        them (every form for admins); a form-scoped key then sees only its
        forms, and the cursor follows the store's page, so a short page never
        ends the listing early.
        """
        if limit < 1 or limit > 1000:
            raise BadRequest.field("limit", "limit must be between 1 and 1000")
        forms = self.store.list_forms(after, limit, visible_to=visible_to(principal))
        next_cursor = forms[-1]["id"] if len(forms) == limit else None
        return [f for f in forms if principal.allows("read", f["id"])], next_cursor
