"""The task-record, webhook, delivery and done-mark store methods, on every backend of ``tests/store/conftest.py``."""

from __future__ import annotations

from typing import Any

from app.util import new_id, now_iso


def task(state: str = "queued", at: str | None = None, **kw: Any) -> dict[str, Any]:
    at = at or now_iso()
    return {"id": new_id(), "actor": "a.b", "queue": "default", "state": state, "created_at": at, "updated_at": at,
            "message": {"args": [1], "kwargs": {}}, **kw}


def test_task_records_insert_once_update_conditionally_list_and_purge(store: Any) -> None:
    t = task(created_by="u1")
    assert store.put_task(t) is True and store.put_task(t) is False
    rec = store.get_task(t["id"])
    assert rec["attempts"] == 0 and rec["cancel_requested"] == 0 and rec["message"] == {"args": [1], "kwargs": {}}
    assert store.update_task(t["id"], {"state": "running"}, states=("queued",))["state"] == "running"
    assert store.update_task(t["id"], {"state": "cancelled"}, states=("queued",)) is None
    assert store.update_task(t["id"], {"result": {"x": [1, 2]}})["result"] == {"x": [1, 2]}
    older = [task("dead", at=now_iso(-100 + i)) for i in range(3)]
    for o in older:
        store.put_task(o)
    page = store.list_tasks("dead", None, None, 2)
    assert [r["id"] for r in page] == [older[2]["id"], older[1]["id"]]
    rest = store.list_tasks("dead", None, (page[-1]["created_at"], page[-1]["id"]), 2)
    assert [r["id"] for r in rest] == [older[0]["id"]]
    assert [r["id"] for r in store.list_tasks(None, "u1", None, 10)] == [t["id"]]
    assert store.count_tasks("dead") == 3
    store.update_task(older[0]["id"], {"finished_at": now_iso(-50)})
    store.update_task(older[1]["id"], {"finished_at": now_iso()})
    assert store.purge_tasks(now_iso(-10)) == 1 and store.get_task(older[0]["id"]) is None


def test_webhook_failure_counter_and_deliveries_unique_per_event_and_endpoint(store: Any) -> None:
    now = now_iso()
    hook = {"id": new_id(), "form_id": "f1", "url": "http://x", "secret": "whsec_x", "events": ["*"],
            "created_at": now, "updated_at": now}
    store.create_webhook(hook)
    assert store.get_webhook(hook["id"])["active"] == 1 and store.list_webhooks("f1")[0]["events"] == ["*"]
    assert [store.webhook_failed(hook["id"], now) for _ in range(3)] == [1, 2, 3]
    store.webhook_succeeded(hook["id"], now)
    assert store.get_webhook(hook["id"])["consecutive_failures"] == 0
    d = {"id": new_id(), "endpoint_id": hook["id"], "event_id": "e1", "form_id": "f1", "topic": "t",
         "payload": {"a": 1}, "state": "pending", "created_at": now, "updated_at": now, "next_attempt_at": now}
    first, created = store.put_delivery(d)
    again, created_again = store.put_delivery({**d, "id": new_id()})
    assert created and not created_again and again["id"] == first["id"] and again["payload"] == {"a": 1}
    assert store.claim_delivery(d["id"], now_iso(), now_iso(-10))["state"] == "sending"
    assert store.claim_delivery(d["id"], now_iso(), now_iso(-10)) is None, "a fresh lease is held"
    assert store.claim_delivery(d["id"], now_iso(), now_iso(10)) is not None, "a stale lease is taken over"
    assert [x["id"] for x in store.list_deliveries(hook["id"], "sending", None, 10)] == [d["id"]]
    assert store.delete_webhook(hook["id"]) and store.get_webhook(hook["id"]) is None


def test_done_marks(store: Any) -> None:
    assert store.is_done("k") is False
    assert store.mark_done("k", now_iso()) is True and store.mark_done("k", now_iso()) is False
    assert store.is_done("k") is True
