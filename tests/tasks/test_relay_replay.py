"""A killed broker Redis may lose the last second of writes: the relay sends that window again.

With ``appendfsync everysec`` the events moved just before a SIGKILL can be
marked sent in the store and missing from the queue. The chaos test through the
real tree caught it (17 of 120 events never delivered, once in four runs).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tasks.relay import RecentlySent
from tests.conftest import SAMPLE_SCHEMA
from tests.tasks.test_deferred import own  # noqa: F401 - the fixture: an app, broker and relay on a Redis of its own
from tests.tasks.test_webhooks import ANSWERS


class Clock:
    def __init__(self) -> None:
        self.now = 3.0  # seconds after boot

    def __call__(self) -> float:
        return self.now


def test_the_window_is_kept_while_the_broker_is_away_and_dropped_by_the_same_broker() -> None:
    clock = Clock()
    recent = RecentlySent(clock, window=5.0)
    recent.settle("redis-a")
    recent.add([{"id": "e1"}])
    clock.now += 60  # Redis down for a minute: nothing answered, nothing dropped
    assert [e["id"] for e in recent.lost_to("redis-b")] == ["e1"]  # a new Redis: send e1 again
    recent.settle("redis-b")
    assert recent.lost_to("redis-c") == []  # resent to b: b has it
    recent.add([{"id": "e2"}])
    assert recent.lost_to("redis-b") == []  # the same Redis: nothing lost
    clock.now += 6
    recent.settle("redis-b")  # b answered 6 s after e2: e2 is on its disk
    assert recent.lost_to("redis-c") == []


def _queued(server: Any) -> int:
    client = server.client(0)
    return sum(int(client.hlen(k)) for k in client.keys("dramatiq:*.msgs"))


def test_events_moved_just_before_redis_lost_them_are_sent_again(own: dict[str, Any]) -> None:  # noqa: F811
    api, relay, server = own["api"], own["relay"], own["server"]
    form = api.post("/api/v1/forms", {"title": "T", "schema": SAMPLE_SCHEMA}).json
    assert api.post(f"/api/v1/forms/{form['id']}/submissions", {"answers": ANSWERS}).status_code == 201
    assert relay.run_once() == 1
    queued = _queued(server)
    assert queued >= 1
    server.proc.kill()  # SIGKILL, and the AOF lost what it had not written: start empty
    server.proc.wait(10)
    shutil.rmtree(Path(server.dir))
    server.start()
    assert _queued(server) == 0
    assert relay.run_once() == 0  # nothing new in the outbox ...
    assert _queued(server) == queued  # ... but the lost event's messages are back
