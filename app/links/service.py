"""Public links let anonymous people submit one form, nothing else.

The link token is shown once and stored as SHA-256, like API keys. Each use
takes one unit of quota atomically in the store; a per-IP rate limit in Redis
slows scripted abuse; likely spam is accepted but held as ``quarantined``,
which fires no webhooks until a person releases it.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from app import audit
from app.auth.service import LINK_PREFIX, Principal, token_hash
from app.errors import Forbidden, NotFound, RateLimited
from app.ratelimit import RateLimiter
from app.store import Record, Store
from app.util import iso, new_id, now_iso, parse_iso
from app.validation import body_validator, check

LINK_BODY = body_validator({
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "expires_at": {"type": "string", "format": "date-time"},
        "quota": {"type": "integer", "minimum": 1, "maximum": 10_000_000},
    },
})
URL_RE = re.compile(r"https?://", re.IGNORECASE)


def looks_like_spam(answers: Any) -> bool:
    """A cheap first line: many links in free text, or a filled honeypot."""
    if not isinstance(answers, dict):
        return False
    text = " ".join(str(v) for v in answers.values() if isinstance(v, str))
    return len(URL_RE.findall(text)) >= 3


def public_link(link: Record) -> Record:
    return {k: link[k] for k in ("id", "form_id", "prefix", "expires_at", "quota", "used", "created_at", "revoked_at")}


class LinkService:
    def __init__(self, store: Store, limiter: RateLimiter, per_minute: int) -> None:
        self.store = store
        self.limiter = limiter
        self.per_minute = per_minute

    def create(self, form_id: str, body: Any, principal: Principal) -> tuple[str, Record]:
        check(LINK_BODY, body, "link is invalid")  # the view passes {} for no body; null, [] or 0 are invalid
        token = LINK_PREFIX + secrets.token_urlsafe(24)
        link = {"id": new_id(), "form_id": form_id, "token_hash": token_hash(token), "prefix": token[:8],
                "expires_at": iso(parse_iso(body["expires_at"])) if body.get("expires_at") else None,
                "quota": body.get("quota"), "used": 0, "created_by": principal.user_id,
                "created_at": now_iso(), "revoked_at": None}
        with self.store.atomically():
            self.store.create_link(link)
            audit.record(self.store, "link.create", principal.user_id, link["id"], {"form_id": form_id})
        return token, link

    def revoke(self, form_id: str, link_id: str, principal: Principal) -> None:
        if link_id not in {link["id"] for link in self.store.list_links(form_id)}:
            raise NotFound(f"link {link_id} not found")
        with self.store.atomically():
            self.store.revoke_link(link_id, now_iso())
            audit.record(self.store, "link.revoke", principal.user_id, link_id)

    def admit(self, token: str, ip: str) -> Record:
        """The link a public submission may use, after expiry, rate and quota checks."""
        link = self.store.get_link_by_hash(token_hash(token))
        if link is None or link["revoked_at"] is not None:
            raise NotFound("link not found", code="link_not_found")
        if link["expires_at"] is not None and link["expires_at"] <= now_iso():
            raise Forbidden("this link has expired", code="link_expired")
        ident = f"{link['id']}|{ip}"
        if self.limiter.hit("public", ident, 60) > self.per_minute:
            raise RateLimited("too many submissions from this address", self.limiter.ttl("public", ident, 60))
        return link

    def take_quota(self, link: Record) -> None:
        if not self.store.take_link_quota(link["id"]):
            raise Forbidden("this link has reached its submission quota", code="link_quota_exhausted")
