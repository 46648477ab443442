"""The API request id travels through the outbox into webhook, e-mail and embedding tasks.

A submission's events reach the broker through the relay, a different
process; the id goes with them (outbox column, message option), into the
worker's log lines, the tasks they enqueue and the webhook request's
``X-Request-ID`` header.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from app.services import Services
from tests.conftest import Api
from tests.helpers import wait_for
from tests.tasks.test_webhooks import add_hook, drain

REQUEST_ID = "abc"
OTHER_ID = "def"
TRACED = ("webhook.fanout", "webhook.deliver", "email.submission", "hooks.ai_embed")


def _log_entries(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def test_request_id_reaches_the_webhook_header_and_every_task_log(
        api: Api, svc: Services, settings: Any, relay: Any, receiver: Any, smtp: Any, spawn_worker: Any) -> None:
    form = api.post("/api/v1/forms", {"title": "Traced", "schema": {"type": "object", "properties": {
        "name": {"type": "string"}}}, "settings": {"notify_emails": ["ops@example.com"], "ai": {"embed": True}}}).json
    add_hook(api, form["id"], receiver.url + "/traced")
    for request_id in (REQUEST_ID, OTHER_ID):
        resp = api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": {"name": "Ada"}},
                        headers={"X-Request-ID": request_id})
        assert resp.status_code == 201 and resp.headers["X-Request-ID"] == request_id
    events = svc.store.pending_events(10)
    assert [e["request_id"] for e in events] == [REQUEST_ID, OTHER_ID], "the outbox rows keep the requests' ids"
    assert drain(relay) == 2  # the relay runs outside any request: the ids come from the rows

    wp = spawn_worker(queues=("default",), threads=2, FMS_SMTP_HOST="127.0.0.1", FMS_SMTP_PORT=str(smtp.port))
    reqs = wait_for(lambda: len(receiver.received("/traced")) == 2 and receiver.received("/traced"), timeout=30,
                    what="both webhook requests")
    # Each request names its own event's request, whichever task of the endpoint's lane sent it.
    assert {r["headers"]["webhook-id"]: r["headers"]["x-request-id"] for r in reqs} == {
        e["id"]: e["request_id"] for e in events}
    wait_for(lambda: len(smtp.messages) == 2, timeout=30, what="the notification e-mails")

    def finished() -> dict[str, list[str | None]]:
        """Request ids of the 'task succeeded' lines per traced actor, once each has one per event."""
        ids: dict[str, list[str | None]] = {actor: [] for actor in TRACED}
        for e in _log_entries(wp.output()):
            if e.get("message") == "task succeeded" and e.get("actor") in ids:
                ids[e["actor"]].append(e["request_id"])
        return ids if all(len(v) >= 2 for v in ids.values()) else {}

    # A task logs its line after its work: the requests and e-mails above may be in before the lines.
    ids = wait_for(finished, timeout=30, what="a 'task succeeded' line per task and event")
    assert {actor: sorted(v) for actor, v in ids.items()} == {actor: [REQUEST_ID, OTHER_ID] for actor in TRACED}
    # The embed hook enqueued the embeddings (the embed queue has no worker here): they carry the ids too.
    embeds = [t for t in svc.store.list_tasks("queued", None, None, 10) if t["actor"] == "ai.embed"]
    assert sorted(t["request_id"] for t in embeds) == [REQUEST_ID, OTHER_ID]
    assert all(t["message"]["options"]["request_id"] == t["request_id"] for t in embeds)


def test_events_without_a_request_carry_none_and_relay_messages_say_so() -> None:
    """Writes outside a request (CLI, a task) have no id; the relay's messages then have none either."""
    from app.submissions.service import event
    from tasks.relay import messages_for

    ev = event("submission.created", {"id": "s1", "form_id": "f1", "form_version": 1, "status": "submitted",
                                      "answers": {}, "created_at": "2026-01-01T00:00:00.000000Z"})
    assert ev["request_id"] is None
    assert {m.options["request_id"] for m in messages_for(ev)} == {None}
    traced = messages_for({**ev, "request_id": "req-9"})
    assert [m.actor_name for m in traced] == ["webhook.fanout", "email.submission", "hooks.ai_embed"]
    assert {m.options["request_id"] for m in traced} == {"req-9"}
    assert len({m.message_id for m in traced}) == 3


def test_an_outbox_created_before_the_column_gains_it(tmp_path: Path) -> None:
    """Databases from before request ids: migrate adds the column, old rows read as None, new rows keep theirs."""
    from app.store.sqlite import SQLiteStore

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
                     "topic TEXT NOT NULL, key TEXT, payload TEXT NOT NULL, created_at TEXT NOT NULL, sent_at TEXT)")
        conn.execute("INSERT INTO outbox (id, topic, key, payload, created_at) VALUES "
                     "('e1', 'submission.created', 'f1', '{}', '2026-01-01T00:00:00.000000Z')")
    store = SQLiteStore(path)
    store.migrate()
    store.migrate()  # twice is fine (every process migrates at start)
    store.add_events([{"id": "e2", "topic": "submission.created", "key": "f1", "payload": {},
                       "created_at": "2026-01-01T00:00:01.000000Z", "sent_at": None, "request_id": "req-2"}])
    assert [(e["id"], e["request_id"]) for e in store.pending_events(10)] == [("e1", None), ("e2", "req-2")]
