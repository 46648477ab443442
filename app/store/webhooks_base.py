"""Store extensions for webhooks: endpoints and their deliveries (the outbox's last hop).

Kept apart from the task records (:mod:`app.store.tasks_base`): a delivery
is not a task, it is the durable schedule of one event to one endpoint, with
its own claim and lease rules (see :meth:`WebhooksStore.claim_delivery`).
Both backends inherit a mixin built on :class:`WebhooksStore`; the tables are
created by the numbered migrations (:mod:`app.store.migrations`).

Records are plain dicts shaped the same in both backends (the fields below,
in this order, ``None`` when unset); JSON fields hold any JSON value.
"""

from __future__ import annotations

import abc
import secrets

from app.store.records import Record

WEBHOOK_FIELDS = (
    "id", "form_id", "url", "secret", "events", "description", "active", "consecutive_failures",
    "disabled_reason", "include_sensitive", "created_by", "created_at", "updated_at", "failing_since",
)
WEBHOOK_JSON = frozenset({"events"})

DELIVERY_STATES = ("pending", "sending", "retrying", "succeeded", "failed", "skipped")
DELIVERY_FIELDS = (
    "id", "endpoint_id", "event_id", "form_id", "topic", "payload", "state", "attempts",
    "last_status", "last_error", "duration_ms", "created_at", "updated_at", "delivered_at", "next_attempt_at",
    "request_id", "claim_token",
)
# A delivery in one of these states with ``next_attempt_at`` set and past is due; NULL parks it
# (its endpoint is disabled) until the endpoint is re-enabled.
WAITING_STATES = ("pending", "retrying")
DELIVERY_JSON = frozenset({"payload"})


def new_claim_token() -> str:
    """A fresh token for one claim: only the lane holding it may settle the delivery it claimed."""
    return secrets.token_hex(8)


class WebhooksStore(abc.ABC):
    """What webhook delivery asks of a database (implemented by both backends' mixins)."""

    # webhook endpoints ---------------------------------------------------------
    @abc.abstractmethod
    def create_webhook(self, hook: Record) -> None: ...

    @abc.abstractmethod
    def get_webhook(self, hook_id: str) -> Record | None: ...

    @abc.abstractmethod
    def list_webhooks(self, form_id: str) -> list[Record]: ...

    @abc.abstractmethod
    def update_webhook(self, hook_id: str, changes: Record) -> Record | None: ...

    @abc.abstractmethod
    def delete_webhook(self, hook_id: str) -> bool: ...

    @abc.abstractmethod
    def webhook_failed(self, hook_id: str, at: str) -> int:
        """Atomically count one more consecutive failure (``failing_since`` set if unset); the new count."""

    @abc.abstractmethod
    def webhook_succeeded(self, hook_id: str, at: str) -> int:
        """Reset the failure count and ``failing_since``; the count it ended (0: it was not failing)."""

    # deliveries --------------------------------------------------------------------
    @abc.abstractmethod
    def put_delivery(self, delivery: Record) -> tuple[Record, bool]:
        """Insert unless (event_id, endpoint_id) exists: (the stored record, created?)."""

    @abc.abstractmethod
    def get_delivery(self, delivery_id: str) -> Record | None: ...

    @abc.abstractmethod
    def update_delivery(self, delivery_id: str, changes: Record,
                        states: tuple[str, ...] | None = None) -> Record | None: ...

    @abc.abstractmethod
    def claim_delivery(self, delivery_id: str, now: str, stale_before: str, limit: int | None = None
                       ) -> Record | None:
        """Atomically move a due pending/retrying delivery (or one whose ``sending`` lease went stale) to ``sending``.

        Due: ``next_attempt_at`` set and not after ``now``. The lease is
        ``updated_at``: a worker killed mid-send leaves ``sending`` behind, and
        anyone may take the delivery over once the lease is older than
        ``stale_before``. With ``limit``, only while fewer than ``limit``
        deliveries of the same endpoint hold a fresh lease (per-endpoint
        concurrency). None when not due, held, settled or the endpoint is busy.
        Each claim sets a new ``claim_token``; see :meth:`settle_delivery`.
        """

    @abc.abstractmethod
    def settle_delivery(self, delivery_id: str, claim_token: str | None, changes: Record) -> Record | None:
        """Apply ``changes`` (and clear the token) only while the delivery is ``sending`` under ``claim_token``.

        Why: a lane whose lease ran out (a stalled worker) may still come back
        with an answer after another lane took the delivery over; its write must
        not overwrite the newer outcome (a ``succeeded`` flipping back to
        ``retrying`` and being sent again). None, and nothing written, when the
        claim is no longer this one.
        """

    @abc.abstractmethod
    def claim_next_delivery(self, endpoint_id: str, now: str, stale_before: str, limit: int) -> Record | None:
        """Like :meth:`claim_delivery` for the endpoint's OLDEST due delivery (by created_at, id)."""

    @abc.abstractmethod
    def due_endpoints(self, now: str, stale_before: str, limit: int = 1000) -> list[Record]:
        """Active endpoints with due deliveries: ``{endpoint_id, due, sending}`` (sending: fresh leases)."""

    @abc.abstractmethod
    def schedule_waiting(self, endpoint_id: str, at: str) -> int:
        """Make the endpoint's waiting deliveries (parked or scheduled later) due at ``at``; how many."""

    @abc.abstractmethod
    def list_deliveries(self, endpoint_id: str, state: str | None, after: tuple[str, str] | None,
                        limit: int) -> list[Record]:
        """Newest first, keyset-paginated by (created_at, id)."""
