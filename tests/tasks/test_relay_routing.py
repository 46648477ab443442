"""Routing declared once: the topics the relay routes, the prefixes actors use, the queues they land on."""

from __future__ import annotations

import importlib

import dramatiq

from app.webhooks.service import TOPICS
from tasks.registry import ACTOR_MODULES
from tasks.relay import TOPIC_ACTORS, messages_for
from tasks.routing import QUEUES, ROUTES, queue_for


def _actors() -> dict[str, str]:
    """Every production actor's name -> its queue (the actors of the modules workers load)."""
    found = {}
    for module in map(importlib.import_module, ACTOR_MODULES):
        found.update({obj.actor_name: obj.queue_name for obj in vars(module).values()
                      if isinstance(obj, dramatiq.Actor)})
    return found


def test_the_relay_routes_exactly_the_topics_endpoints_subscribe_to() -> None:
    assert set(TOPIC_ACTORS) == set(TOPICS)
    actors = _actors()
    for topic, names in TOPIC_ACTORS.items():
        assert names, topic
        assert set(names) <= set(actors), f"{topic} routes to actors nobody declares"
        messages = messages_for({"id": "e1", "topic": topic, "request_id": None})
        assert [(m.actor_name, m.queue_name) for m in messages] == [(n, actors[n]) for n in names]


def test_every_routing_prefix_is_used_by_an_actor_and_every_queue_is_routed() -> None:
    names = set(_actors()) | {"validate.echo"}  # validate.*: the high-queue actors of the task tests
    for prefix, queue in ROUTES:
        assert any(n.startswith(prefix) for n in names), f"no actor uses the prefix {prefix!r}"
        assert queue in QUEUES
    assert {queue_for(n) for n in names} == set(QUEUES)
