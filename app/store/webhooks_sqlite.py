"""SQLite implementation of :class:`app.store.webhooks_base.WebhooksStore` (mixed into SQLiteStore)."""

from __future__ import annotations

import sqlite3

from app.store.records import Record
from app.store.records_sqlite import SQLiteRecords, dec
from app.store.webhooks_base import (
    DELIVERY_FIELDS,
    DELIVERY_JSON,
    WEBHOOK_FIELDS,
    WEBHOOK_JSON,
    WebhooksStore,
    new_claim_token,
)

# Due (waiting and its time has come) or abandoned mid-send (a stale lease): what a lane may claim.
# The leading state IN lets the (endpoint_id, state, ...) index skip an endpoint's settled history.
_CLAIMABLE = ("(state IN ('pending', 'retrying', 'sending') AND ((state IN ('pending', 'retrying') AND "
              "next_attempt_at IS NOT NULL AND next_attempt_at <= :now) "
              "OR (state = 'sending' AND updated_at < :stale)))")
_IN_FLIGHT = ("(SELECT COUNT(*) FROM deliveries AS o WHERE o.endpoint_id = :endpoint AND o.state = 'sending' "
              "AND o.updated_at >= :stale)")


class WebhooksSQLiteMixin(SQLiteRecords, WebhooksStore):
    """Webhook endpoints and deliveries on the SQLite store."""

    # webhook endpoints ---------------------------------------------------------------
    def create_webhook(self, hook: Record) -> None:
        with self._tx() as c:
            self._t_insert(c, "webhooks", WEBHOOK_FIELDS, WEBHOOK_JSON, hook)

    def get_webhook(self, hook_id: str) -> Record | None:
        return dec(self._one("SELECT * FROM webhooks WHERE id = ?", (hook_id,)), WEBHOOK_JSON)

    def list_webhooks(self, form_id: str) -> list[Record]:
        rows = self._all("SELECT * FROM webhooks WHERE form_id = ? ORDER BY created_at, id", (form_id,))
        return [dec(r, WEBHOOK_JSON) for r in rows]  # type: ignore[misc]

    def update_webhook(self, hook_id: str, changes: Record) -> Record | None:
        return self._t_update("webhooks", WEBHOOK_FIELDS, WEBHOOK_JSON, hook_id, changes, None)

    def delete_webhook(self, hook_id: str) -> bool:
        with self._tx() as c:
            return int(c.execute("DELETE FROM webhooks WHERE id = ?", (hook_id,)).rowcount) > 0

    def webhook_failed(self, hook_id: str, at: str) -> int:
        with self._tx() as c:
            c.execute("UPDATE webhooks SET consecutive_failures = consecutive_failures + 1, updated_at = ?, "
                      "failing_since = COALESCE(failing_since, ?) WHERE id = ?", (at, at, hook_id))
            row = c.execute("SELECT consecutive_failures FROM webhooks WHERE id = ?", (hook_id,)).fetchone()
        return int(row["consecutive_failures"]) if row else 0

    def webhook_succeeded(self, hook_id: str, at: str) -> int:
        with self._tx() as c:
            row = c.execute("SELECT consecutive_failures FROM webhooks WHERE id = ?", (hook_id,)).fetchone()
            c.execute("UPDATE webhooks SET consecutive_failures = 0, failing_since = NULL WHERE id = ? AND "
                      "(consecutive_failures != 0 OR failing_since IS NOT NULL)", (hook_id,))
        return int(row["consecutive_failures"]) if row else 0

    # deliveries ----------------------------------------------------------------------
    def put_delivery(self, delivery: Record) -> tuple[Record, bool]:
        created = True
        try:
            with self._tx() as c:
                self._t_insert(c, "deliveries", DELIVERY_FIELDS, DELIVERY_JSON, delivery)
        except sqlite3.IntegrityError:
            created = False
        row = self._one("SELECT * FROM deliveries WHERE event_id = ? AND endpoint_id = ?",
                        (delivery["event_id"], delivery["endpoint_id"]))
        return dec(row, DELIVERY_JSON), created  # type: ignore[return-value]

    def get_delivery(self, delivery_id: str) -> Record | None:
        return dec(self._one("SELECT * FROM deliveries WHERE id = ?", (delivery_id,)), DELIVERY_JSON)

    def update_delivery(self, delivery_id: str, changes: Record,
                        states: tuple[str, ...] | None = None) -> Record | None:
        return self._t_update("deliveries", DELIVERY_FIELDS, DELIVERY_JSON, delivery_id, changes, states)

    def claim_delivery(self, delivery_id: str, now: str, stale_before: str, limit: int | None = None
                       ) -> Record | None:
        params = {"id": delivery_id, "now": now, "stale": stale_before, "limit": limit}
        with self._tx() as c:  # BEGIN IMMEDIATE: the in-flight count and the claim are one step
            row = c.execute(f"SELECT endpoint_id FROM deliveries WHERE id = :id AND {_CLAIMABLE}", params).fetchone()
            if row is None:
                return None
            params["endpoint"] = row["endpoint_id"]
            if limit is not None and c.execute(f"SELECT {_IN_FLIGHT} AS n", params).fetchone()["n"] >= limit:
                return None
            c.execute("UPDATE deliveries SET state = 'sending', updated_at = :now, claim_token = :token "
                      "WHERE id = :id", {**params, "token": new_claim_token()})
        return self.get_delivery(delivery_id)

    def settle_delivery(self, delivery_id: str, claim_token: str | None, changes: Record) -> Record | None:
        return self._t_update("deliveries", DELIVERY_FIELDS, DELIVERY_JSON, delivery_id,
                              {**changes, "claim_token": None}, ("sending",), {"claim_token": claim_token})

    def claim_next_delivery(self, endpoint_id: str, now: str, stale_before: str, limit: int) -> Record | None:
        params = {"endpoint": endpoint_id, "now": now, "stale": stale_before}
        with self._tx() as c:
            if c.execute(f"SELECT {_IN_FLIGHT} AS n", params).fetchone()["n"] >= limit:
                return None
            # INDEXED BY: ordering by the (endpoint_id, created_at) index would walk the whole history.
            row = c.execute(f"SELECT id FROM deliveries INDEXED BY deliveries_by_endpoint_state WHERE "
                            f"endpoint_id = :endpoint AND {_CLAIMABLE} ORDER BY created_at, id LIMIT 1",
                            params).fetchone()
            if row is None:
                return None
            c.execute("UPDATE deliveries SET state = 'sending', updated_at = :now, claim_token = :token "
                      "WHERE id = :id", {**params, "id": row["id"], "token": new_claim_token()})
        return self.get_delivery(row["id"])

    def due_endpoints(self, now: str, stale_before: str, limit: int = 1000) -> list[Record]:
        params = {"now": now, "stale": stale_before, "limit": limit}
        due = self._all(f"SELECT endpoint_id, COUNT(*) AS due FROM deliveries WHERE {_CLAIMABLE} AND endpoint_id IN "
                        "(SELECT id FROM webhooks WHERE active = 1) GROUP BY endpoint_id ORDER BY MIN(created_at) "
                        "LIMIT :limit", params)
        if not due:
            return []
        busy = {r["endpoint_id"]: int(r["n"]) for r in self._all(
            "SELECT endpoint_id, COUNT(*) AS n FROM deliveries WHERE state = 'sending' AND updated_at >= :stale "
            "GROUP BY endpoint_id", params)}
        return [{"endpoint_id": r["endpoint_id"], "due": int(r["due"]), "sending": busy.get(r["endpoint_id"], 0)}
                for r in due]

    def schedule_waiting(self, endpoint_id: str, at: str) -> int:
        with self._tx() as c:
            return int(c.execute(
                "UPDATE deliveries SET next_attempt_at = ? WHERE endpoint_id = ? AND state IN ('pending', 'retrying') "
                "AND (next_attempt_at IS NULL OR next_attempt_at > ?)", (at, endpoint_id, at)).rowcount)

    def list_deliveries(self, endpoint_id: str, state: str | None, after: tuple[str, str] | None,
                        limit: int) -> list[Record]:
        where, params = ["endpoint_id = ?"], [endpoint_id]
        if state is not None:
            where.append("state = ?")
            params.append(state)
        self._page(where, params, after)
        sql = f"SELECT * FROM deliveries WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?"
        return [dec(r, DELIVERY_JSON) for r in self._all(sql, (*params, limit))]  # type: ignore[misc]
