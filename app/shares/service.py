"""Per-form shares: who besides the owner and the administrators may use a form, and how far.

The rules of what a grant allows live in :mod:`app.auth.access`; this module
only writes and reads the grants. Whoever may ``manage`` a form (its owner,
an administrator, a ``manager``) manages its shares.
"""

from __future__ import annotations

from typing import Any

from app import audit
from app.auth.service import Principal
from app.errors import BadRequest, NotFound
from app.store import SHARE_ROLES, Record, Store
from app.util import now_iso
from app.validation import body_validator, check

SHARE_BODY = body_validator({
    "type": "object", "additionalProperties": False, "required": ["role"],
    "properties": {"role": {"enum": list(SHARE_ROLES)}},
})


def public_share(share: Record, user: Record | None) -> Record:
    return {"form_id": share["form_id"], "user_id": share["user_id"],
            "username": user["username"] if user else None, "role": share["role"],
            "granted_by": share["granted_by"], "created_at": share["created_at"], "updated_at": share["updated_at"]}


class ShareService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def list(self, form: Record) -> list[Record]:
        return [public_share(s, self.store.get_user(s["user_id"])) for s in self.store.list_shares(form["id"])]

    def get(self, form: Record, user_id: str) -> Record:
        share = self.store.get_share(form["id"], user_id)
        if share is None:
            raise NotFound(f"form {form['id']} is not shared with user {user_id}", code="share_not_found")
        return public_share(share, self.store.get_user(user_id))

    def put(self, form: Record, user_id: str, body: Any, me: Principal) -> tuple[Record, bool]:
        """Grant or change ``user_id``'s role on ``form``; True when the share is new."""
        check(SHARE_BODY, body, "share is invalid")
        user = self.store.get_user(user_id)
        if user is None:
            raise NotFound.field("user_id", f"user {user_id} not found", code="user_not_found")
        if user_id == form.get("owner_id"):
            raise BadRequest.field("user_id", "the form's owner already has every right on it", code="share_owner")
        now = now_iso()
        share = {"form_id": form["id"], "user_id": user_id, "role": body["role"], "granted_by": me.user_id,
                 "created_at": now, "updated_at": now}
        with self.store.atomically():
            created = self.store.put_share(share)
            audit.record(self.store, "form.share", me.user_id, form["id"], {"user_id": user_id, "role": body["role"]})
        return self.get(form, user_id), created

    def delete(self, form: Record, user_id: str, me: Principal) -> None:
        with self.store.atomically():
            if not self.store.delete_share(form["id"], user_id):
                raise NotFound(f"form {form['id']} is not shared with user {user_id}", code="share_not_found")
            audit.record(self.store, "form.unshare", me.user_id, form["id"], {"user_id": user_id})
