"""Per-form access: the one check every form-scoped endpoint makes.

A request may act on a form when three things all allow it (an intersection,
never a union):

* the user's relation to the form: administrators and the form's owner may
  do everything; anyone else only what a share grants (``viewer`` → read,
  ``editor`` → read and write submissions, ``manager`` → also edit or delete
  the form and manage its webhooks, links and shares); no share, no access;
* the user's role ceiling (a ``viewer`` user never writes, whatever the share);
* the credential: its scope and, for a form-scoped API key, its form list.

A caller that cannot see a form at all gets ``404 form_not_found`` (whether
the form exists is itself not theirs to learn); one that can see it but not
do this gets ``403``. Nothing here is cached: a revoked share takes effect on
the next request.
"""

from __future__ import annotations

from app.auth.service import SCOPES, Principal
from app.errors import Forbidden, NotFound
from app.forms.sensitive import sensitive_fields
from app.store import Record, Store

NEEDS = SCOPES  # read < write < manage: a need is the scope it takes
SHARE_GRANTS = {"viewer": "read", "editor": "write", "manager": "manage"}


def form_level(store: Store, principal: Principal, form: Record) -> str | None:
    """The most the principal's user may do on ``form`` by role, ownership or share (None: nothing)."""
    if principal.is_admin or form.get("owner_id") == principal.user_id:
        return "manage"
    share = store.get_share(form["id"], principal.user_id)
    return SHARE_GRANTS.get(share["role"]) if share else None


def require_form(store: Store, principal: Principal, form_id: str, need: str) -> Record:
    """The live form when ``principal`` may ``need`` (read | write | manage) it; else 404 or 403."""
    return check_form(store, principal, form_id, need, store.get_form(form_id))


def check_form(store: Store, principal: Principal, form_id: str, need: str, form: Record | None) -> Record:
    """:func:`require_form` for a form the caller already loaded (the HTTP layer's per-process copy)."""
    if need not in NEEDS:
        raise ValueError(f"unknown need {need!r}")
    level = None if form is None else form_level(store, principal, form)
    if form is None or level is None:
        raise NotFound(f"form {form_id} not found", code="form_not_found")
    principal.require(need, form_id)
    if NEEDS.index(level) < NEEDS.index(need):
        raise Forbidden(f"your share of form {form_id} allows '{level}', not '{need}'")
    return form


def sees_sensitive(store: Store, principal: Principal, form: Record) -> bool:
    """Whether the caller reads the form's sensitive answers in clear.

    Decided per form, from the user's relation to it: the owner, admins and
    ``editor``/``manager`` shares see them; a ``viewer`` share does not, nor
    does a ``viewer`` user on any form (the role ceiling). The credential's
    scope plays no part: a read-only key of an editor reads what its user may.
    """
    if principal.role == "viewer":
        return False
    level = form_level(store, principal, form)
    return level is not None and NEEDS.index(level) >= NEEDS.index("write")


def hidden_fields(store: Store, principal: Principal | None, form: Record) -> frozenset[str]:
    """The form's sensitive fields this caller may not see (empty when it sees them all)."""
    if principal is not None and sees_sensitive(store, principal, form):
        return frozenset()
    return sensitive_fields(form)


def can_see(store: Store, principal: Principal, form_id: str) -> bool:
    """Whether the form exists for this principal at all (what lists and task lookups filter on)."""
    form = store.get_form(form_id)
    return form is not None and form_level(store, principal, form) is not None and principal.allows("read", form_id)


def visible_to(principal: Principal) -> str | None:
    """The user id a form list is restricted to; None for administrators (every form)."""
    return None if principal.is_admin else principal.user_id
