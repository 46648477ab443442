"""The one store type the application holds: every interface a backend implements.

Why one type: services, actors and the CLI get their store from
:func:`app.store.open_store`; typed as the core :class:`Store` alone, every
task, webhook, AI or analytics call needed a ``type: ignore``. Both backends derive
from :class:`FmsStore` (after their mixins), so a missing method is an
abstract-class error at construction, not an ``AttributeError`` mid-request.
"""

from __future__ import annotations

import abc

from app.store.ai_base import AIStore
from app.store.analytics_base import AnalyticsStore
from app.store.base import Store
from app.store.migrations import Migration
from app.store.tasks_base import TasksStore
from app.store.webhooks_base import WebhooksStore


class FmsStore(Store, TasksStore, WebhooksStore, AIStore, AnalyticsStore, abc.ABC):
    """Core records, task records, webhooks and deliveries, AI and live analytics: what ``open_store()`` returns."""

    backend: str  # "sqlite" or "mongodb"
    migrations: tuple[Migration, ...]  # this backend's numbered steps (app.store.migrations.<backend>)
