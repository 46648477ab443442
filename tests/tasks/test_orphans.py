"""Messages fetched before a Redis connection drop are not stranded in a live worker's acks set."""

from __future__ import annotations

from typing import Any

from dramatiq import Message

from tests.helpers import wait_for


def _drain(consumer: Any, count: int) -> list[Any]:
    got: list[Any] = []

    def more() -> bool:
        message = next(consumer)
        if message is not None:
            got.append(message)
        return len(got) >= count

    wait_for(more, 10, interval=0, what=f"{count} messages")
    return got


def test_a_replacement_consumer_requeues_what_its_predecessor_had_fetched(broker: Any) -> None:
    sent = [broker.enqueue(Message(queue_name="default", actor_name="system.noop", args=(), kwargs={}, options={}))
            for _ in range(5)]
    old = broker.consume("default", prefetch=10, timeout=100)
    [handed_out] = _drain(old, 1)  # one message is with a worker thread; four wait in the prefetch cache
    assert len(old.message_cache) == 4
    # The connection drops: Dramatiq replaces the consumer and the old cache is gone.
    new = broker.consume("default", prefetch=10, timeout=100)
    recovered = _drain(new, 4)
    assert {m.message_id for m in recovered} == {m.message_id for m in sent} - {handed_out.message_id}
    for message in [handed_out, *recovered]:
        new.ack(message)
    acks = broker.client.smembers(f"{broker.namespace}:__acks__.{broker.broker_id}.default")
    assert acks == set()
