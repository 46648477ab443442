"""A process that calls another (worker-ai embeds through the embedder) is ordered after it by every renderer."""

from __future__ import annotations

import re

from app.process_tree import PROCESSES, process
from app.render.supervisor import reference_context, render
from app.render.systemd import render_all


def _unit_line(unit: str, key: str) -> list[str]:
    return next(line.split("=", 1)[1].split() for line in unit.splitlines() if line.startswith(f"{key}="))


def test_worker_ai_wants_the_embedder_and_every_wanted_process_exists() -> None:
    assert process("worker-ai").wants == ("embedder",)
    names = {p.name for p in PROCESSES}
    for p in PROCESSES:
        assert set(p.wants) <= names - {p.name}, p.name


def test_systemd_orders_worker_ai_after_the_embedder_without_requiring_it() -> None:
    units = render_all()
    ai = units["fms-worker-ai.service"]
    assert "fms-embedder.service" in _unit_line(ai, "After")
    assert "fms-embedder.service" in _unit_line(ai, "Wants")  # Wants, not Requires: fills go on without it
    assert not any(line.startswith(("Requires=", "BindsTo=")) for line in ai.splitlines())
    assert "fms-embedder.service" not in _unit_line(units["fms-api.service"], "After")
    default = units["fms-worker-default.service"]  # it runs ai.embed (the embed queue)
    assert "fms-embedder.service" in _unit_line(default, "After") and "fms-embedder.service" in _unit_line(
        default, "Wants")


def test_supervisord_starts_the_embedder_before_worker_ai() -> None:
    conf = render(reference_context())
    priority = {name: int(value) for name, value in
                re.findall(r"^\[program:([^\]]+)\]$.*?^priority=(\d+)$", conf, flags=re.M | re.S)}
    assert priority["embedder"] < priority["worker-ai"], priority
