"""Authentication and authorisation, independent of the web framework.

Passwords are hashed with Argon2id (slow on purpose). API keys and login
tokens are 256-bit random strings that are stored only as SHA-256: hashing a
high-entropy token needs no salt or work factor, and a per-request Argon2
check would cap the API at a few dozen requests per second.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app import audit
from app.cache import local_cache
from app.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound, RateLimited, Unauthorized
from app.ratelimit import RateLimiter
from app.settings import Settings
from app.store import Conflict as StoreConflict
from app.store import LastAdmin, Record, Store
from app.util import new_id, now_iso, parse_iso, sha256_hex

ROLES = ("viewer", "editor", "admin")
SCOPES = ("read", "write", "manage")
# The highest scope each role may use: viewers read, editors write answers and
# manage forms, admins also manage users, keys of others, models and audit.
ROLE_SCOPE = {"viewer": "read", "editor": "manage", "admin": "manage"}
KEY_PREFIX, TOKEN_PREFIX, LINK_PREFIX = "fms_", "fmt_", "fml_"
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("timing-equaliser")


#: WSGI environ key for what a middleware's credential check of a request found (a Principal, or
#: the ApiError refusing it), so Flask does not check the same credential again. Only the server
#: and middlewares write environ keys without the ``HTTP_`` prefix, never a client.
AUTHENTICATED = "fms.authenticated"


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do."""

    user_id: str
    username: str
    role: str
    scope: str  # the most this credential allows
    forms: frozenset[str] | None  # None: every form
    credential_id: str
    kind: str  # apikey | token

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def allows(self, scope: str, form_id: str | None = None) -> bool:
        if SCOPES.index(scope) > SCOPES.index(self.scope):
            return False
        return form_id is None or self.forms is None or form_id in self.forms

    def require(self, scope: str, form_id: str | None = None) -> None:
        if not self.allows(scope, form_id):
            target = f" on form {form_id}" if form_id else ""
            raise Forbidden(f"this credential lacks the '{scope}' scope{target}")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("administrators only")


def _last_admin(user_id: str, field: str) -> Conflict:
    """409: deactivating, demoting or deleting the last active admin would lock everyone out."""
    message = (f"user {user_id} is the last active administrator; make another user an active admin first")
    return Conflict.field(field, message, code="last_admin")  # type: ignore[return-value]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return sha256_hex(token)


class AuthService:
    def __init__(self, store: Store, limiter: RateLimiter, settings: Settings) -> None:
        self.store = store
        self.limiter = limiter
        self.settings = settings
        # Authenticated credentials, per process; every change that could refuse one bumps it.
        self._local = local_cache(store, settings.cache_url)

    # users --------------------------------------------------------------------
    def create_user(self, username: str, password: str, role: str, actor: str | None) -> Record:
        if role not in ROLES:
            raise BadRequest.field("/role", f"role must be one of {', '.join(ROLES)}")
        if len(password) < 8:
            raise BadRequest.field("/password", "password must be at least 8 characters")
        now = now_iso()
        user: Record = {"id": new_id(), "username": username, "password_hash": hash_password(password),
                "role": role, "active": 1, "created_at": now, "updated_at": now}
        try:
            with self.store.atomically():  # the user and its audit record, or neither
                self.store.create_user(user)
                audit.record(self.store, "user.create", actor, user["id"], {"username": username, "role": role})
        except StoreConflict as exc:
            raise Conflict.field("/username", f"user {username!r} already exists") from exc
        return user

    def update_user(self, user_id: str, changes: Record, actor: str) -> Record:
        if self.store.get_user(user_id) is None:
            raise NotFound(f"user {user_id} not found")
        update: Record = {"updated_at": now_iso()}
        if "role" in changes:
            if changes["role"] not in ROLES:
                raise BadRequest.field("/role", f"role must be one of {', '.join(ROLES)}")
            update["role"] = changes["role"]
        if "active" in changes:
            update["active"] = 1 if changes["active"] else 0
        if "password" in changes:
            if len(changes["password"]) < 8:
                raise BadRequest.field("/password", "password must be at least 8 characters")
            update["password_hash"] = hash_password(changes["password"])
        logged = {k: ("changed" if k == "password" else v) for k, v in changes.items()}
        try:
            with self.store.atomically():
                user = self.store.update_user(user_id, update, keep_admin=True)
                audit.record(self.store, "user.update", actor, user_id, logged)
        except LastAdmin as exc:
            field = "/active" if "active" in changes and not changes["active"] else "/role"
            raise _last_admin(user_id, field) from exc
        self._local.bump()  # after the commit: a disabled or demoted user, every process re-reads its credentials
        return user  # type: ignore[return-value]

    def delete_user(self, user_id: str, actor: str) -> None:
        try:
            with self.store.atomically():
                deleted = self.store.delete_user(user_id, keep_admin=True)
                if deleted:
                    audit.record(self.store, "user.delete", actor, user_id)
        except LastAdmin as exc:
            raise _last_admin(user_id, "user_id") from exc
        self._local.bump()
        if not deleted:
            raise NotFound(f"user {user_id} not found")

    def is_last_active_admin(self, user_id: str) -> bool:
        """Whether ``user_id`` is the only active administrator (the instance's last way in)."""
        admins = [u["id"] for u in self.store.list_users() if u["role"] == "admin" and u["active"]]
        return admins == [user_id]

    def bootstrap_admin(self, spec: str) -> Record | None:
        """Create the ``user:password`` admin when the store has no user yet."""
        if not spec or self.store.count_users() > 0:
            return None
        username, sep, password = spec.partition(":")
        if not sep or not username or not password:
            raise ValueError("FMS_BOOTSTRAP_ADMIN must look like user:password")
        try:
            return self.create_user(username, password, "admin", actor="bootstrap")
        except Conflict:  # another process won the race
            return None

    # login --------------------------------------------------------------------
    def login(self, username: str, password: str, ip: str) -> tuple[str, str]:
        """Check a password and issue a token; repeated failures get 429."""
        ident = f"{username}|{ip}"
        window = self.settings.login_window
        if self.limiter.count("login", ident) >= self.settings.login_max_failures:
            audit.record(self.store, "auth.login_blocked", username, None, {"ip": ip})
            raise RateLimited("too many failed logins; try again later", self.limiter.ttl("login", ident, window))
        user = self.store.get_user_by_name(username)
        if not check_password(user["password_hash"] if user else None, password) or not user or not user["active"]:
            self.limiter.hit("login", ident, window)
            audit.record(self.store, "auth.login_failed", username, None, {"ip": ip})
            raise Unauthorized("invalid username or password", code="invalid_credentials")
        self.limiter.reset("login", ident)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = now_iso(self.settings.token_ttl)
        with self.store.atomically():
            self.store.create_credential({
                "id": new_id(), "kind": "token", "token_hash": token_hash(token), "user_id": user["id"],
                "name": "login", "role": None, "scope": "manage", "forms": None, "prefix": token[:8],
                "expires_at": expires, "revoked_at": None, "created_at": now_iso(),
            })
            audit.record(self.store, "auth.login", user["id"], None, {"ip": ip})
        return token, expires

    # api keys -------------------------------------------------------------------
    def create_api_key(self, user_id: str, scope: str, forms: list[str] | None, name: str,
                       actor: str | None) -> tuple[str, Record]:
        """Returns the key (shown once) and its stored record (hash only)."""
        if scope not in SCOPES:
            raise BadRequest.field("/scope", f"scope must be one of {', '.join(SCOPES)}")
        user = self.store.get_user(user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        if SCOPES.index(scope) > SCOPES.index(ROLE_SCOPE[user["role"]]):
            raise BadRequest.field("/scope", f"a {user['role']} cannot hold a '{scope}' key")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record: Record = {
            "id": new_id(), "kind": "apikey", "token_hash": token_hash(key), "user_id": user_id,
            "name": name, "role": None, "scope": scope, "forms": sorted(forms) if forms else None,
            "prefix": key[:8], "expires_at": None, "revoked_at": None, "created_at": now_iso(),
        }
        with self.store.atomically():
            self.store.create_credential(record)
            audit.record(self.store, "apikey.create", actor, record["id"], {"user_id": user_id, "scope": scope})
        return key, record

    def revoke_api_key(self, key_id: str, principal: Principal) -> None:
        owner = None if principal.is_admin else principal.user_id
        if key_id not in {c["id"] for c in self.store.list_credentials("apikey", owner)}:
            raise NotFound(f"api key {key_id} not found")
        with self.store.atomically():
            self.store.revoke_credential(key_id, now_iso())
            audit.record(self.store, "apikey.revoke", principal.user_id, key_id)
        self._local.bump()  # also when it was revoked already: a retry repairs a bump lost to a crash

    # per request ------------------------------------------------------------------
    def authenticate(self, bearer: str | None) -> Principal:
        """Map a bearer credential to a principal, or raise 401.

        A credential that passed is kept per process (:class:`app.cache.LocalCache`)
        until any revoke, user change or form edit; its expiry is checked on every
        request. Refusals are never kept, so a random token always reaches the store.
        """
        if not bearer:
            raise Unauthorized("authentication required: send 'Authorization: Bearer <key or token>'")
        digest = token_hash(bearer)
        hit = self._local.get("identity", digest)
        if hit is None:
            generation = self._local.generation
            hit = self._identity(digest)
            self._local.put("identity", digest, hit, generation)
        principal, expires_ts = hit
        if expires_ts is not None and expires_ts <= time.time():
            raise Unauthorized("token expired; log in again", code="token_expired")
        return principal

    def _identity(self, digest: str) -> tuple[Principal, float | None]:
        """The principal behind a credential hash and its expiry (epoch seconds), or raise 401."""
        identity = self.store.get_identity(digest)
        if identity is None or identity[0]["revoked_at"] is not None:
            raise Unauthorized("invalid or revoked credential", code="invalid_credentials")
        cred, user = identity
        expires_ts = parse_iso(cred["expires_at"]).timestamp() if cred["expires_at"] is not None else None
        if expires_ts is not None and expires_ts <= time.time():
            raise Unauthorized("token expired; log in again", code="token_expired")
        if not user["active"]:
            raise Unauthorized("user is disabled", code="invalid_credentials")
        role_scope = ROLE_SCOPE[user["role"]]
        scope = min(cred["scope"] or "manage", role_scope, key=SCOPES.index)
        forms = frozenset(cred["forms"]) if cred["forms"] else None
        principal = Principal(user["id"], user["username"], user["role"], scope, forms, cred["id"], cred["kind"])
        return principal, expires_ts


def authenticate_once(auth: AuthService, environ: dict[str, Any], token: str) -> Principal | None:
    """For a middleware in front of Flask: the caller of ``token``, or None when refused or the store fails.

    What was found (the principal, or the ApiError refusing it) is left under :data:`AUTHENTICATED`,
    so a request handed on to Flask is not authenticated a second time; a failing store leaves nothing,
    and Flask tries again.
    """
    try:
        principal = auth.authenticate(token)
    except ApiError as refused:
        environ[AUTHENTICATED] = refused
        return None
    except Exception:  # noqa: BLE001 - a failing store: Flask tries again and answers it
        return None
    environ[AUTHENTICATED] = principal
    return principal
