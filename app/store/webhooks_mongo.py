"""MongoDB implementation of :class:`app.store.webhooks_base.WebhooksStore` (mixed into MongoStore)."""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.store.records import Record
from app.store.records_mongo import NEWEST, OLDEST, MongoRecords, from_doc, page_after, to_doc
from app.store.webhooks_base import WebhooksStore, new_claim_token


def _claimable(now: str, stale_before: str) -> dict[str, Any]:
    """Due (waiting, its time has come) or abandoned mid-send (a stale lease)."""
    return {"$or": [{"state": {"$in": ["pending", "retrying"]}, "next_attempt_at": {"$type": "string", "$lte": now}},
                    {"state": "sending", "updated_at": {"$lt": stale_before}}]}


class WebhooksMongoMixin(MongoRecords, WebhooksStore):
    """Webhook endpoints and deliveries on the MongoDB store."""

    # webhook endpoints ---------------------------------------------------------------------
    def create_webhook(self, hook: Record) -> None:
        self.db.webhooks.insert_one(to_doc("webhooks", hook))

    def get_webhook(self, hook_id: str) -> Record | None:
        return from_doc("webhooks", self.db.webhooks.find_one({"_id": hook_id}))

    def list_webhooks(self, form_id: str) -> list[Record]:
        docs = self.db.webhooks.find({"form_id": form_id}).sort([("created_at", 1), ("_id", 1)])
        return [from_doc("webhooks", d) for d in docs]  # type: ignore[misc]

    def update_webhook(self, hook_id: str, changes: Record) -> Record | None:
        return self._m_update("webhooks", hook_id, changes, None)

    def delete_webhook(self, hook_id: str) -> bool:
        return int(self.db.webhooks.delete_one({"_id": hook_id}).deleted_count) > 0

    def webhook_failed(self, hook_id: str, at: str) -> int:
        self.db.webhooks.update_one({"_id": hook_id, "failing_since": None}, {"$set": {"failing_since": at}})
        doc = self.db.webhooks.find_one_and_update(
            {"_id": hook_id}, {"$inc": {"consecutive_failures": 1}, "$set": {"updated_at": at}},
            projection={"consecutive_failures": 1}, return_document=ReturnDocument.AFTER)
        return int(doc["consecutive_failures"]) if doc else 0

    def webhook_succeeded(self, hook_id: str, at: str) -> int:
        doc = self.db.webhooks.find_one_and_update(
            {"_id": hook_id, "$or": [{"consecutive_failures": {"$ne": 0}}, {"failing_since": {"$ne": None}}]},
            {"$set": {"consecutive_failures": 0, "failing_since": None}}, projection={"consecutive_failures": 1},
            return_document=ReturnDocument.BEFORE)
        return int(doc.get("consecutive_failures") or 0) if doc else 0

    # deliveries ----------------------------------------------------------------------------
    def put_delivery(self, delivery: Record) -> tuple[Record, bool]:
        created = True
        try:
            self.db.deliveries.insert_one(to_doc("deliveries", delivery))
        except DuplicateKeyError:
            created = False
        doc = self.db.deliveries.find_one({"event_id": delivery["event_id"], "endpoint_id": delivery["endpoint_id"]})
        return from_doc("deliveries", doc), created  # type: ignore[return-value]

    def get_delivery(self, delivery_id: str) -> Record | None:
        return from_doc("deliveries", self.db.deliveries.find_one({"_id": delivery_id}))

    def update_delivery(self, delivery_id: str, changes: Record,
                        states: tuple[str, ...] | None = None) -> Record | None:
        return self._m_update("deliveries", delivery_id, changes, states)

    def _in_flight(self, endpoint_id: str, stale_before: str) -> int:
        return int(self.db.deliveries.count_documents(
            {"endpoint_id": endpoint_id, "state": "sending", "updated_at": {"$gte": stale_before}}))

    def claim_delivery(self, delivery_id: str, now: str, stale_before: str, limit: int | None = None
                       ) -> Record | None:
        # The in-flight check and the claim are two operations here: under a race the limit may be
        # exceeded by the number of racing workers (SQLite makes them one transaction).
        if limit is not None:
            row = self.db.deliveries.find_one({"_id": delivery_id}, {"endpoint_id": 1})
            if row is None or self._in_flight(row["endpoint_id"], stale_before) >= limit:
                return None
        doc = self.db.deliveries.find_one_and_update(
            {"_id": delivery_id, **_claimable(now, stale_before)},
            {"$set": {"state": "sending", "updated_at": now, "claim_token": new_claim_token()}},
            return_document=ReturnDocument.AFTER)
        return from_doc("deliveries", doc)

    def settle_delivery(self, delivery_id: str, claim_token: str | None, changes: Record) -> Record | None:
        return self._m_update("deliveries", delivery_id, {**changes, "claim_token": None}, ("sending",),
                              {"claim_token": claim_token})

    def claim_next_delivery(self, endpoint_id: str, now: str, stale_before: str, limit: int) -> Record | None:
        if self._in_flight(endpoint_id, stale_before) >= limit:
            return None
        doc = self.db.deliveries.find_one_and_update(
            {"endpoint_id": endpoint_id, **_claimable(now, stale_before)},
            {"$set": {"state": "sending", "updated_at": now, "claim_token": new_claim_token()}}, sort=OLDEST,
            return_document=ReturnDocument.AFTER)
        return from_doc("deliveries", doc)

    def due_endpoints(self, now: str, stale_before: str, limit: int = 1000) -> list[Record]:
        active = [h["_id"] for h in self.db.webhooks.find({"active": 1}, {"_id": 1})]
        rows = self.db.deliveries.aggregate([
            {"$match": {"endpoint_id": {"$in": active}, **_claimable(now, stale_before)}},
            {"$group": {"_id": "$endpoint_id", "due": {"$sum": 1}, "oldest": {"$min": "$created_at"}}},
            {"$sort": {"oldest": 1}}, {"$limit": limit}])
        return [{"endpoint_id": r["_id"], "due": int(r["due"]), "sending": self._in_flight(r["_id"], stale_before)}
                for r in rows]

    def schedule_waiting(self, endpoint_id: str, at: str) -> int:
        res = self.db.deliveries.update_many(
            {"endpoint_id": endpoint_id, "state": {"$in": ["pending", "retrying"]},
             "$or": [{"next_attempt_at": None}, {"next_attempt_at": {"$gt": at}}]},
            {"$set": {"next_attempt_at": at}})
        return int(res.modified_count)

    def list_deliveries(self, endpoint_id: str, state: str | None, after: tuple[str, str] | None,
                        limit: int) -> list[Record]:
        flt: dict[str, Any] = {"endpoint_id": endpoint_id}
        if state is not None:
            flt["state"] = state
        docs = self.db.deliveries.find(page_after(flt, after)).sort(NEWEST).limit(limit)
        return [from_doc("deliveries", d) for d in docs]  # type: ignore[misc]
