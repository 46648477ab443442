"""Start-up work done once per deployment, not per worker: migrate, first admin."""

from __future__ import annotations

import logging

from app.settings import Settings

log = logging.getLogger(__name__)


def bootstrap(settings: Settings) -> None:
    from app.services import build

    svc = build(settings)  # open_store() migrates: tables and indexes exist after this
    created = svc.auth.bootstrap_admin(settings.bootstrap_admin)
    if created:
        log.warning("created bootstrap admin", extra={"username": created["username"]})
    svc.store.close()
