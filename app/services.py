"""The service container: every long-lived object, built in one place.

Nothing here knows about Flask; the app factory, the workers and the CLI each
call :func:`build` once per process and pass the result around. The task
dispatcher is an interface (:mod:`app.dispatch`): the composition root that
serves HTTP plugs the task system's implementation in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from app.auth.service import AuthService
from app.cache import Cache
from app.dispatch import Dispatcher, NoDispatcher
from app.forms.service import FormService
from app.links.service import LinkService
from app.ratelimit import RateLimiter
from app.settings import Settings
from app.store import FmsStore, open_store
from app.submissions.query import CursorCodec
from app.submissions.service import SubmissionService


@dataclass
class Services:
    settings: Settings
    store: FmsStore
    cache: Cache
    limiter: RateLimiter
    auth: AuthService
    forms: FormService
    submissions: SubmissionService
    links: LinkService
    cursors: CursorCodec
    dispatch: Dispatcher = field(default_factory=NoDispatcher)


def secret_key(settings: Settings) -> str:
    """FMS_SECRET_KEY, or one generated once into the data dir (0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = path.open("x")
        except FileExistsError:
            return path.read_text().strip()
        with fd:
            path.chmod(0o600)
            fd.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def build(settings: Settings, store: FmsStore | None = None, dispatch: Dispatcher | None = None) -> Services:
    store = store or open_store(settings)
    cache = Cache(settings.cache_url, settings.cache_ttl)
    limiter = RateLimiter(settings.cache_url)
    return Services(
        settings=settings,
        store=store,
        cache=cache,
        limiter=limiter,
        auth=AuthService(store, limiter, settings),
        forms=FormService(store, cache),
        submissions=SubmissionService(store),
        links=LinkService(store, limiter, settings.public_rate_limit),
        cursors=CursorCodec(secret_key(settings)),
        dispatch=dispatch or NoDispatcher(),
    )
