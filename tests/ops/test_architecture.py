"""docs/architecture.md draws what the process tree declares, and the README points to it."""

from __future__ import annotations

import re

from tests.ops.conftest import ROOT
from tests.ops.tree import processes, tree_module

DOC = ROOT / "docs" / "architecture.md"


def _diagram() -> str:
    blocks = re.findall(r"```mermaid\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1, "one Mermaid diagram"
    return blocks[0]


def _labels(diagram: str) -> set[str]:
    """The first line of every node label (``id["name<br/>..."]``, ``id[(name ...)]``): the names drawn."""
    edge = r'(?:-->|-\.-|<-->)\s*(?:\|[^|]*\|\s*)?'
    found = re.findall(rf'(?:^\s*|{edge})\w+\s*(?:\[\(|\(\[|\[|\()"?([\w-]+)', diagram, flags=re.M)
    return set(found)


def test_every_process_and_timer_of_the_tree_is_drawn() -> None:
    diagram = _diagram()
    assert diagram.lstrip().startswith("flowchart")
    drawn = _labels(diagram)
    names = {p.name for p in processes()} | {t.name for t in getattr(tree_module(), "TIMERS", ())}
    assert len(names) >= 7
    assert names - drawn == set(), "docs/architecture.md misses processes or timers of the tree"


def test_the_data_flow_is_drawn() -> None:
    diagram = _diagram()
    for edge in (r"api -->\|[^|]*outbox[^|]*\| store", r"relay -->\|[^|]*\| broker", r"broker --> worker_ai",
                 r"worker_default -->\|signed POST\| webhooks", r"worker_default -->\|SMTP\| email"):
        assert re.search(edge, diagram), edge


def test_readme_links_the_architecture() -> None:
    assert "(docs/architecture.md)" in (ROOT / "README.md").read_text()
